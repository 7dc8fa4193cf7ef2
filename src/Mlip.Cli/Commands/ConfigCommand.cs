using System.CommandLine;
using System.Text.Json;
using Mlip.Schema;

namespace Mlip.Cli.Commands;

/// <summary><c>mlip config --schema [--json]</c>: every config key with type, default and doc, generated from the records.</summary>
public static class ConfigCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var schema = new Option<bool>("--schema") { Description = "List every key of train and learn configs, model kinds' settings and descriptor parameters (type, default, doc)" };
        var json = CommonOptions.Json(); // JSON instead of the Markdown of docs/config-reference.md
        var cmd = new Command("config", "Describe the YAML config files of train and learn") { schema, json };
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            if (!parse.GetValue(schema)) throw new Mlip.Validation.MlipException("config: give --schema (optionally --json)");
            stdout.Write(parse.GetValue(json)
                ? ConfigReference.Json().ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n"
                : ConfigReference.Markdown());
            return 0;
        }));
        return cmd;
    }
}
