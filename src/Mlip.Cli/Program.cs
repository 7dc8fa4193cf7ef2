using System.CommandLine;
using Mlip.Cli.Commands;

namespace Mlip.Cli;

public static class Program
{
    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

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
        return root;
    }
}
