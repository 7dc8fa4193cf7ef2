using System.Globalization;

namespace Mlip.Distributed;

/// <summary>
/// The communicator of this process. <see cref="World"/> is <see cref="SingleProcess"/> unless an MPI launcher
/// started the process (mpirun/mpiexec set OMPI_COMM_WORLD_SIZE, MPICH's and Slurm's PMI set PMI_SIZE, srun with
/// PMIx sets PMIX_RANK and SLURM_NTASKS) with more than one rank; then Open MPI is loaded and initialised on first
/// use. MLIP_MPI=0 turns MPI off, MLIP_MPI=1 forces it on. <see cref="Finish"/> (MPI_Finalize) at the end of a run.
/// </summary>
public static class Communicator
{
    private static readonly Lazy<ICommunicator> Lazy = new(Create, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>All processes of this run.</summary>
    public static ICommunicator World => Lazy.Value;

    /// <summary>True when an MPI launcher started this process with more than one rank (nothing is loaded to know it).</summary>
    public static bool Launched => LaunchedBy(Environment.GetEnvironmentVariable) is not null;

    /// <summary>The launcher's rank count, or null when none started this process (or MLIP_MPI=0).</summary>
    public static int? LaunchedBy(Func<string, string?> environment)
    {
        string? forced = environment("MLIP_MPI");
        if (forced == "0") return null;
        int? size = Int(environment("OMPI_COMM_WORLD_SIZE")) ?? Int(environment("PMI_SIZE"))
            ?? (environment("PMIX_RANK") is not null ? Int(environment("SLURM_NTASKS")) : null);
        if (forced == "1") return size ?? 1;
        return size > 1 ? size : null;
    }

    /// <summary>MPI_Finalize when MPI was started (a no-op otherwise). Call once every rank is done.</summary>
    public static void Finish()
    {
        if (Lazy.IsValueCreated && Lazy.Value is OpenMpi mpi) mpi.Finish();
    }

    private static ICommunicator Create()
    {
        if (!Launched) return SingleProcess.Instance;
        var mpi = OpenMpi.Start();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => mpi.Finish();
        return mpi;
    }

    private static int? Int(string? s) => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : null;
}
