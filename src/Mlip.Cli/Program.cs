using System.CommandLine;
using Mlip.Cli.Commands;
using Mlip.Distributed;

namespace Mlip.Cli;

public static class Program
{
    /// <summary>Verbs that split their work over the ranks of an MPI run (docs/scale.md); the others run on rank 0 alone.</summary>
    public static readonly string[] DistributedVerbs = ["train", "fit", "mpi-check"];

    /// <summary>True when the command line splits over MPI ranks: a distributed verb, or <c>mlip descriptors ... --store DIR</c>.</summary>
    public static bool Distributes(string[] args) =>
        args.Length > 0 && (DistributedVerbs.Contains(args[0]) || (args[0] == "descriptors" && args.Contains("--store")));

    public static int Main(string[] args)
    {
        if (!Communicator.Launched) return Run(args, Console.Out, Console.Error);
        // Started by mpirun/srun: rank 0 prints, the other ranks are quiet (their errors still reach stderr, see
        // CliRunner); a verb that is not distributed runs on rank 0 while the others wait for it.
        var world = Communicator.World;
        int rc;
        if (world.Size > 1 && !Distributes(args))
        {
            if (world.IsRoot)
                Console.Error.WriteLine($"mlip: '{(args.Length > 0 ? args[0] : "")}' does not use MPI; it runs on rank 0 while the other {world.Size - 1} ranks wait");
            rc = world.IsRoot ? Run(args, Console.Out, Console.Error) : 0;
        }
        else rc = world.IsRoot ? Run(args, Console.Out, Console.Error) : Run(args, TextWriter.Null, TextWriter.Null);
        if (rc != 0 && world.Size > 1) world.Abort(rc); // the others may wait in a collective: end them all
        Communicator.Finish();
        return rc;
    }

    /// <summary>Runs the command line with the given output streams (tests call this directly).</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var root = CreateRoot(stdout, stderr);
        var config = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
        return root.Parse(args).Invoke(config);
    }

    /// <summary>The root command with every verb (CliGrammarTests walks it).</summary>
    public static RootCommand CreateRoot(TextWriter stdout, TextWriter stderr)
    {
        var root = new RootCommand("Mlip: machine-learning interatomic potentials (data sets, descriptors, fitting, simulation).");
        root.Subcommands.Add(InfoCommand.Create(stdout, stderr));
        root.Subcommands.Add(ConvertCommand.Create(stdout, stderr));
        root.Subcommands.Add(BuildCommand.Create(stdout, stderr));
        root.Subcommands.Add(DescriptorsCommand.Create(stdout, stderr));
        root.Subcommands.Add(TrainCommand.Create(stdout, stderr));
        root.Subcommands.Add(FitCommand.Create(stdout, stderr));
        root.Subcommands.Add(TestCommand.Create(stdout, stderr));
        root.Subcommands.Add(PredictCommand.Create(stdout, stderr));
        root.Subcommands.Add(ActiveSetCommand.Create(stdout, stderr));
        root.Subcommands.Add(ExportCommand.Create(stdout, stderr));
        root.Subcommands.Add(ServeCommand.Create(stdout, stderr));
        root.Subcommands.Add(SimulationCommands.Relax(stdout, stderr));
        root.Subcommands.Add(SimulationCommands.Eos(stdout, stderr));
        root.Subcommands.Add(SimulationCommands.Elastic(stdout, stderr));
        root.Subcommands.Add(MdCommand.Create(stdout, stderr));
        root.Subcommands.Add(GenerateCommand.Create(stdout, stderr));
        root.Subcommands.Add(DemoCommand.Create(stdout, stderr));
        root.Subcommands.Add(NebCommand.Create(stdout, stderr));
        root.Subcommands.Add(PhononCommand.Create(stdout, stderr));
        root.Subcommands.Add(LearnCommand.Create(stdout, stderr));
        root.Subcommands.Add(LabelCommand.Create(stdout, stderr));
        root.Subcommands.Add(ConfigCommand.Create(stdout, stderr));
        root.Subcommands.Add(MpiCheckCommand.Create(stdout, stderr));
        return root;
    }
}
