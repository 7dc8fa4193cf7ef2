using System.Collections.Concurrent;

namespace Mlip.Validation;

/// <summary>
/// Reusable scratch objects of the blocks of a parallel loop (workspaces of hundreds of KB to MBs) that give each thread back
/// the object it returned last. In MD the same threads (the worker pool's) run every step's passes, so a thread finds its
/// scratch in its own cache; from one shared stack a thread got whichever object was returned last, which on two threads is the
/// one the other core had just written whenever the other returned its own later (for ACE, which rents per block of 16 atoms,
/// about every other block). Each thread keeps at
/// most one object of its own; more (a nested or concurrent rent on the thread) come from a shared stack. Which object a block
/// gets never changes a result: every block overwrites what it reads of its scratch.
/// </summary>
public sealed class ScratchPool<T>(Func<T> create) where T : class
{
    private readonly ThreadLocal<T?> _own = new();
    private readonly ConcurrentStack<T> _spare = new();

    /// <summary>The calling thread's own object if it has one, else a spare one or a new one.</summary>
    public T Rent()
    {
        if (_own.Value is { } own)
        {
            _own.Value = null;
            return own;
        }
        return _spare.TryPop(out var spare) ? spare : create();
    }

    /// <summary>Gives <paramref name="item"/> back: it becomes the calling thread's own object if it has none, a spare one otherwise.</summary>
    public void Return(T item)
    {
        if (_own.Value is null) _own.Value = item;
        else _spare.Push(item);
    }
}
