using System.Reflection;
using System.Reflection.Emit;

namespace Mlip.Tests.Architecture;

/// <summary>One IL instruction of a method body: its offset, opcode and the operand read as an integer (a token, a local's
/// index, a branch offset; 0 for none; the count for <c>switch</c>).</summary>
internal readonly record struct IlInstruction(int Offset, OpCode OpCode, long Operand);

/// <summary>
/// Reads the IL of compiled methods (<see cref="MethodBody.GetILAsByteArray"/>) into instructions with the tables of
/// <see cref="OpCodes"/>, and resolves the methods that call / callvirt / newobj / ldftn name. The guard tests use it to
/// find calls the C# source hides (implicit conversion operators, lambdas, iterators, async state machines).
/// </summary>
internal static class IlCalls
{
    private static readonly OpCode[] OneByte = new OpCode[256];
    private static readonly OpCode[] TwoByte = new OpCode[256];

    static IlCalls()
    {
        foreach (var field in typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static))
        {
            if (field.GetValue(null) is not OpCode op) continue;
            var value = (ushort)op.Value;
            if (op.Size == 1) OneByte[value] = op;
            else TwoByte[value & 0xFF] = op;
        }
    }

    /// <summary>Every method, constructor and static constructor declared in the assembly's types, nested and
    /// compiler-generated ones included, that has a body.</summary>
    public static IEnumerable<MethodBase> MethodsWithBodies(Assembly assembly)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        Type?[] types;
        try { types = assembly.GetTypes(); }
        catch (ReflectionTypeLoadException e) { types = e.Types; }
        foreach (var type in types)
        {
            if (type is null) continue;
            foreach (var m in type.GetMethods(all).Cast<MethodBase>().Concat(type.GetConstructors(all)))
                if (m.GetMethodBody()?.GetILAsByteArray() is { Length: > 0 }) yield return m;
        }
    }

    /// <summary>The instructions of a method's body in order.</summary>
    public static List<IlInstruction> Instructions(MethodBase method)
    {
        var il = method.GetMethodBody()?.GetILAsByteArray() ?? [];
        var list = new List<IlInstruction>();
        var i = 0;
        while (i < il.Length)
        {
            var offset = i;
            OpCode op;
            if (il[i] == 0xFE)
            {
                op = TwoByte[il[i + 1]];
                i += 2;
            }
            else op = OneByte[il[i++]];
            if (op.Size == 0) throw new InvalidOperationException($"{Name(method)}: unknown opcode at IL_{offset:x4}");
            long operand = 0;
            switch (op.OperandType)
            {
                case OperandType.InlineNone:
                    break;
                case OperandType.ShortInlineBrTarget:
                case OperandType.ShortInlineI:
                case OperandType.ShortInlineVar:
                    operand = op.OperandType == OperandType.ShortInlineI ? (sbyte)il[i] : il[i];
                    i += 1;
                    break;
                case OperandType.InlineVar:
                    operand = BitConverter.ToUInt16(il, i);
                    i += 2;
                    break;
                case OperandType.InlineI8:
                case OperandType.InlineR:
                    operand = BitConverter.ToInt64(il, i);
                    i += 8;
                    break;
                case OperandType.InlineSwitch:
                    operand = BitConverter.ToInt32(il, i);
                    i += 4 + 4 * (int)operand;
                    break;
                default: // InlineBrTarget, InlineField, InlineI, InlineMethod, InlineSig, InlineString, InlineTok, InlineType, ShortInlineR
                    operand = BitConverter.ToInt32(il, i);
                    i += 4;
                    break;
            }
            list.Add(new IlInstruction(offset, op, operand));
        }
        return list;
    }

    /// <summary>True for the instructions whose operand is a method token (call, callvirt, newobj, ldftn, ldvirtftn, jmp).</summary>
    public static bool NamesMethod(IlInstruction instruction) => instruction.OpCode.OperandType == OperandType.InlineMethod;

    /// <summary>The method an instruction with a method token names, resolved in the generic context of the caller.</summary>
    public static MethodBase Resolve(MethodBase caller, IlInstruction instruction)
    {
        var typeArgs = caller.DeclaringType is { IsGenericType: true } t ? t.GetGenericArguments() : null;
        var methodArgs = caller is MethodInfo { IsGenericMethod: true } mi ? mi.GetGenericArguments() : null;
        return caller.Module.ResolveMethod((int)instruction.Operand, typeArgs, methodArgs)
            ?? throw new InvalidOperationException($"{Name(caller)}: token {instruction.Operand:x8} does not resolve");
    }

    /// <summary>The index of the local an stloc / ldloc / ldloca instruction names, or -1 for other instructions.</summary>
    public static int LocalIndex(IlInstruction instruction, bool store)
    {
        var op = instruction.OpCode;
        if (store)
        {
            if (op == OpCodes.Stloc_0) return 0;
            if (op == OpCodes.Stloc_1) return 1;
            if (op == OpCodes.Stloc_2) return 2;
            if (op == OpCodes.Stloc_3) return 3;
            if (op == OpCodes.Stloc_S || op == OpCodes.Stloc) return (int)instruction.Operand;
            return -1;
        }
        if (op == OpCodes.Ldloc_0) return 0;
        if (op == OpCodes.Ldloc_1) return 1;
        if (op == OpCodes.Ldloc_2) return 2;
        if (op == OpCodes.Ldloc_3) return 3;
        if (op == OpCodes.Ldloc_S || op == OpCodes.Ldloc || op == OpCodes.Ldloca_S || op == OpCodes.Ldloca) return (int)instruction.Operand;
        return -1;
    }

    /// <summary>Type.Method as a reader finds it in the source (nested types with '+').</summary>
    public static string Name(MethodBase method) => $"{method.DeclaringType?.FullName}.{method.Name}";
}
