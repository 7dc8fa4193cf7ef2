using System.Reflection;
using System.Reflection.Emit;
using System.Text;
using Mlip.Training;
using TorchSharp;

namespace Mlip.Tests.Architecture;

/// <summary>
/// No temporary <see cref="Scalar"/> reaches libtorch (see <see cref="TorchScalars"/>): a Scalar made from a number
/// (<c>x.clamp_min(1e-300)</c>, <c>x.pow(2)</c>, <c>1 - x</c>, <c>x * w</c>, <c>v.ToScalar()</c> passed inline) is
/// unreachable once TorchSharp has read its handle, and its finalizer may free the native value while libtorch still reads
/// it. The test reads the IL of every method of the given assemblies (nested and compiler-generated types included) and
/// lists each call that makes a Scalar (a TorchSharp method returning one: the implicit conversions, <c>ToScalar</c>)
/// outside the two forms that keep it alive: the static cache <see cref="TorchScalars"/>, and a local stored at once and
/// disposed in the same method (<c>using var s = v.ToScalar();</c>). <see cref="TorchScalars.Of(double)"/> takes
/// literals only (a runtime value would grow the cache). A call to a TorchSharp method that makes such a temporary itself
/// (an overload taking a double that converts inside) is listed too.
/// </summary>
public class TorchScalarLifetimeTests
{
    private static readonly Assembly TorchSharpAssembly = typeof(Scalar).Assembly;

    [Fact]
    public void MlipMakesNoTemporaryScalars()
    {
        var problems = TemporaryScalars(typeof(TorchScalars).Assembly);
        Assert.True(problems.Count == 0, Report(problems));
    }

    [Fact]
    public void CliMakesNoTemporaryScalars()
    {
        var problems = TemporaryScalars(typeof(Mlip.Cli.Program).Assembly);
        Assert.True(problems.Count == 0, Report(problems));
    }

    /// <summary>The benchmarks (bench/Mlip.Bench, built with the solution in the same configuration as the tests).</summary>
    [Fact]
    public void BenchMakesNoTemporaryScalars()
    {
        var testBin = new DirectoryInfo(AppContext.BaseDirectory); // tests/Mlip.Tests/bin/CONFIG/TFM/
        var path = Path.Combine(TestPaths.RepoRoot, "bench", "Mlip.Bench", "bin", testBin.Parent!.Name, testBin.Name, "Mlip.Bench.dll");
        Assert.True(File.Exists(path), $"{path} not found: build the solution (dotnet build Mlip.slnx) before the tests");
        var problems = TemporaryScalars(Assembly.LoadFrom(path));
        Assert.True(problems.Count == 0, Report(problems));
    }

    /// <summary>The checker finds each form it must refuse and passes the two it allows (methods of this class below).</summary>
    [Theory]
    [InlineData(nameof(Samples.ImplicitDouble), true)]
    [InlineData(nameof(Samples.ImplicitInt), true)]
    [InlineData(nameof(Samples.ImplicitInOperator), true)]
    [InlineData(nameof(Samples.InlineToScalar), true)]
    [InlineData(nameof(Samples.LocalNotDisposed), true)]
    [InlineData(nameof(Samples.InLambda), true)]
    [InlineData(nameof(Samples.CacheWithRuntimeValue), true)]
    [InlineData(nameof(Samples.UsingLocal), false)]
    [InlineData(nameof(Samples.CachedLiteral), false)]
    [InlineData(nameof(Samples.DoubleOverload), false)]
    public void CheckerFindsEachForm(string method, bool refused)
    {
        var found = TemporaryScalars(typeof(Samples).Assembly)
            .Where(p => p.Contains($"{typeof(Samples).FullName}.{method}", StringComparison.Ordinal)
                || (method == nameof(Samples.InLambda) && p.Contains($"<{nameof(Samples.InLambda)}>", StringComparison.Ordinal)))
            .ToList();
        Assert.True(refused == (found.Count > 0), $"{method}: {(refused ? "not found" : string.Join("; ", found))}");
    }

    /// <summary>Each call that makes a temporary Scalar, as "Type.Method: what (IL_offset)".</summary>
    internal static List<string> TemporaryScalars(Assembly assembly)
    {
        var problems = new List<string>();
        var torchVerdicts = new Dictionary<MethodBase, string?>();
        foreach (var method in IlCalls.MethodsWithBodies(assembly))
        {
            var isCache = IsInside(method.DeclaringType, typeof(TorchScalars));
            foreach (var (call, what) in Findings(method, isCache))
                problems.Add($"{IlCalls.Name(method)}: {what} (IL_{call.Offset:x4})");
            foreach (var instruction in IlCalls.Instructions(method).Where(IlCalls.NamesMethod))
            {
                var callee = IlCalls.Resolve(method, instruction);
                if (callee.DeclaringType?.Assembly != TorchSharpAssembly || MakesScalar(callee)) continue;
                if (TorchSharpTemporary(callee, torchVerdicts, 0) is { } inside)
                    problems.Add($"{IlCalls.Name(method)}: calls {Signature(callee)}, which {inside} (IL_{instruction.Offset:x4})");
            }
        }
        return problems.Distinct().ToList();
    }

    /// <summary>The calls in one method that make a Scalar not kept alive, and calls of TorchScalars.Of with a runtime value.</summary>
    private static IEnumerable<(IlInstruction Call, string What)> Findings(MethodBase method, bool isCache)
    {
        var code = IlCalls.Instructions(method);
        HashSet<int>? disposed = null;
        for (var k = 0; k < code.Count; k++)
        {
            if (!IlCalls.NamesMethod(code[k])) continue;
            var callee = IlCalls.Resolve(method, code[k]);
            if (callee.DeclaringType == typeof(TorchScalars) && callee.Name == nameof(TorchScalars.Of)
                && !(k > 0 && IsLiteral(code[k - 1].OpCode)))
                yield return (code[k], $"TorchScalars.Of with a value that is not a literal (use `using var s = v.ToScalar();`)");
            if (!MakesScalar(callee) || isCache) continue;
            disposed ??= DisposedLocals(method, code);
            var local = k + 1 < code.Count ? IlCalls.LocalIndex(code[k + 1], store: true) : -1;
            if (local >= 0 && disposed.Contains(local)) continue;
            yield return (code[k], $"{Signature(callee)} makes a temporary Scalar");
        }
    }

    /// <summary>The locals that are loaded right before a call of Dispose (the finally block of a using).</summary>
    private static HashSet<int> DisposedLocals(MethodBase method, List<IlInstruction> code)
    {
        var set = new HashSet<int>();
        for (var k = 1; k < code.Count; k++)
            if (IlCalls.NamesMethod(code[k]) && IlCalls.Resolve(method, code[k]).Name == nameof(IDisposable.Dispose)
                && IlCalls.LocalIndex(code[k - 1], store: false) is var local and >= 0)
                set.Add(local);
        return set;
    }

    /// <summary>Whether a TorchSharp method makes a temporary Scalar in its own body or in the TorchSharp methods it calls
    /// (a few levels deep); the reason, or null.</summary>
    private static string? TorchSharpTemporary(MethodBase method, Dictionary<MethodBase, string?> verdicts, int depth)
    {
        if (verdicts.TryGetValue(method, out var known)) return known;
        verdicts[method] = null; // recursion guard
        string? verdict = null;
        if (method.GetMethodBody() is not null && depth < 4)
        {
            foreach (var (call, what) in Findings(method, isCache: false))
            {
                verdict = $"makes a temporary Scalar inside ({what} at IL_{call.Offset:x4})";
                break;
            }
            if (verdict is null)
                foreach (var instruction in IlCalls.Instructions(method).Where(IlCalls.NamesMethod))
                {
                    var callee = IlCalls.Resolve(method, instruction);
                    if (callee.DeclaringType?.Assembly != TorchSharpAssembly || MakesScalar(callee)) continue;
                    if (TorchSharpTemporary(callee, verdicts, depth + 1) is not null)
                    {
                        verdict = $"calls {Signature(callee)}, which makes a temporary Scalar";
                        break;
                    }
                }
        }
        verdicts[method] = verdict;
        return verdict;
    }

    /// <summary>Whether a type is the given one or nested in it (its lambdas' closure classes).</summary>
    private static bool IsInside(Type? type, Type outer)
    {
        for (; type is not null; type = type.DeclaringType)
            if (type == outer) return true;
        return false;
    }

    /// <summary>A TorchSharp method that returns a new Scalar: the implicit conversions, ToScalar and the like.</summary>
    private static bool MakesScalar(MethodBase method) =>
        method is MethodInfo { ReturnType: var r } && r == typeof(Scalar) && method.DeclaringType?.Assembly == TorchSharpAssembly;

    private static bool IsLiteral(OpCode op) =>
        op == OpCodes.Ldc_R8 || op == OpCodes.Ldc_R4 || op == OpCodes.Ldc_I8 || op == OpCodes.Ldc_I4 || op == OpCodes.Ldc_I4_S
        || op == OpCodes.Ldc_I4_0 || op == OpCodes.Ldc_I4_1 || op == OpCodes.Ldc_I4_2 || op == OpCodes.Ldc_I4_3 || op == OpCodes.Ldc_I4_4
        || op == OpCodes.Ldc_I4_5 || op == OpCodes.Ldc_I4_6 || op == OpCodes.Ldc_I4_7 || op == OpCodes.Ldc_I4_8 || op == OpCodes.Ldc_I4_M1;

    private static string Signature(MethodBase m) =>
        $"{m.DeclaringType?.Name}.{m.Name}({string.Join(", ", m.GetParameters().Select(p => p.ParameterType.Name))})";

    private static string Report(List<string> problems)
    {
        var text = new StringBuilder($"{problems.Count} call(s) make a temporary TorchSharp Scalar that a collection may free while libtorch reads it; ");
        text.AppendLine("use TorchScalars.Of(literal) or `using var s = value.ToScalar();` (see TorchScalars):");
        foreach (var p in problems.Order(StringComparer.Ordinal)) text.AppendLine("  " + p);
        return text.ToString();
    }

    /// <summary>The forms the checker must refuse or allow (never run: read as IL only).</summary>
    private static class Samples
    {
        public static torch.Tensor ImplicitDouble(torch.Tensor x) => x.clamp_min(1e-300);
        public static torch.Tensor ImplicitInt(torch.Tensor x) => x.pow(2);
        public static torch.Tensor ImplicitInOperator(torch.Tensor x) => 1 - x;
        public static torch.Tensor InlineToScalar(torch.Tensor x, double w) => x.mul(w.ToScalar());
        public static torch.Tensor LocalNotDisposed(torch.Tensor x, double w)
        {
            var s = w.ToScalar();
            return x.mul(s);
        }
        public static Func<torch.Tensor, torch.Tensor> InLambda(double w) => x => x * w;
        public static torch.Tensor CacheWithRuntimeValue(torch.Tensor x, double w) => x.mul(TorchScalars.Of(w));
        public static torch.Tensor UsingLocal(torch.Tensor x, double w)
        {
            using var s = w.ToScalar();
            return x.mul(s);
        }
        public static torch.Tensor CachedLiteral(torch.Tensor x) => x.clamp_min(TorchScalars.Of(1e-300)).pow(TorchScalars.Of(2));
        public static torch.Tensor DoubleOverload(torch.Tensor x) => x.log().exp();
    }
}
