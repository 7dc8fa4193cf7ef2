using System.Reflection;
using System.Runtime.CompilerServices;

namespace Mlip.Validation;

/// <summary>
/// JIT-compiles a type's hot kernels on a spare core while the start-up goes on. Kernels written with
/// <see cref="System.Runtime.Intrinsics.Vector256{T}"/> are not in the ReadyToRun image (their code depends on the machine), so the
/// first force call compiles them, with full optimisation, on the thread that calls them first, while the other threads of its
/// parallel loop wait for the same methods: a serial piece of every start-up (the SO(4) kernels of an NN or SNAP model). <see cref="Start"/> compiles them on a background thread from the moment the model is loaded, in the order given,
/// which should be the reverse of the order of first use, so that it and the first call meet in the middle. The runtime
/// compiles a method once (a caller that arrives during the compilation waits for it), so the code and the results are those
/// of a first call. Nothing happens on one core (where it would only take turns with the start-up), and a type is warmed once per process.
/// </summary>
public static class JitWarmUp
{
    private static readonly HashSet<Type> Started = [];

    /// <summary>Types whose warm-up has started in this process (for the tests).</summary>
    public static bool HasStarted(Type type)
    {
        lock (Started) return Started.Contains(type);
    }

    /// <summary>What went wrong on a warm-up thread, if anything (a name that <see cref="Resolve"/> refuses); the kernels are then compiled at their first call as usual.</summary>
    public static Exception? Failure { get; private set; }

    /// <summary>Whether the last warm-up thread ran as a background thread (one that does not keep the process alive), as it saw itself; for the tests, which cannot ask a thread that has already ended.</summary>
    internal static bool LastRanInBackground { get; private set; }

    /// <summary>
    /// Compiles <paramref name="methods"/> of <paramref name="type"/> (<see cref="Resolve"/>) on a background thread when more than
    /// one core is available; the thread, or null where nothing was started (one core, or already started). The names are looked
    /// up on that thread too, so that reflection's first use is not on the start-up's own thread.
    /// </summary>
    public static Thread? Start(Type type, params string[] methods)
    {
        if (MlipParallel.Threads < 2) return null;
        lock (Started)
            if (!Started.Add(type)) return null;
        var thread = new Thread(() =>
        {
            LastRanInBackground = Thread.CurrentThread.IsBackground;
            try
            {
                foreach (var m in Resolve(type, methods)) RuntimeHelpers.PrepareMethod(m.MethodHandle);
            }
            catch (Exception e) { Failure = e; } // only the start-up's speed depends on it: the methods compile at their first call
        })
        { IsBackground = true, Name = "Mlip JIT warm-up" };
        thread.Start();
        return thread;
    }

    /// <summary>The methods named <paramref name="methods"/> declared on <paramref name="type"/> (any access, static or not, no overloads); an unknown name is an <see cref="ArgumentException"/>.</summary>
    public static MethodInfo[] Resolve(Type type, params string[] methods)
    {
        const BindingFlags Declared = BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;
        var found = new MethodInfo[methods.Length];
        for (int i = 0; i < methods.Length; i++)
            found[i] = type.GetMethod(methods[i], Declared) ?? throw new ArgumentException($"{type.Name} has no method {methods[i]}", nameof(methods));
        return found;
    }
}
