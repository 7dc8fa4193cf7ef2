using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Mlip.IO;

namespace Mlip.Bench;

/// <summary>
/// Models trained by Mlip itself for the whole-run benchmark: a 30-24-24-1 tanh network on SO(4) 2J=6 (the architecture of
/// examples/si-nn-so4.yaml) and a Finnis-Sinclair ACE on the 327-function basis of examples/si-ace-300-fs.yaml (with the ChebExpCos
/// radial base instead of SBessel: the PACE library of this LAMMPS build, v.2021.4.9, knows no other), each trained by
/// <c>mlip train</c> (the CLI of this checkout) on the first structures of the mlearn Si training set with a few optimiser
/// iterations: the cost of a force call depends on the architecture and the basis, not on how well the weights are fitted,
/// and the benchmark checks that LAMMPS gives the same energy from the files <c>mlip export lammps</c> writes. Trained once
/// into ~/.cache/mlip/bench-models/NAME-HASH (the hash of the config text and of the CLI's build), reused afterwards.
/// </summary>
public static class TrainedModels
{
    /// <summary>The network's Mlip model and the exported pair_style mliap files; null (with the reason printed) when training failed.</summary>
    public static (string Model, string MliapModel, string MliapDescriptor)? Network(string cli, string mlearnTraining)
    {
        string? dir = Train(cli, "nn-so4", mlearnTraining, """
            descriptor:
              type: so4
              parameters: {twojmax: 6, rcutfac: 4.9, rfac0: 0.99363}
            model:
              kind: nn
              hidden: [24, 24]
              activation: tanh
              optimizer: lbfgs
              epochs: 10
              validation: 0.0
            loss: {energy: 1.0, force: 0.02, stress: 0.0}
            """, "model.json");
        if (dir is null) return null;
        string model = Path.Combine(dir, "model.json"), lmp = Path.Combine(dir, "lammps");
        if (!File.Exists(Path.Combine(lmp, "mlip.mliap.model")) && !Export(cli, model, lmp)) return null;
        return (model, Path.Combine(lmp, "mlip.mliap.model"), Path.Combine(lmp, "mlip.mliap.descriptor"));
    }

    /// <summary>
    /// The Finnis-Sinclair ACE's .yace (Mlip's model file for this kind) and the same potential exported as a plain .ace (the
    /// format the PACE library of this LAMMPS build, v.2021.4.9, reads); null when training failed.
    /// </summary>
    public static (string Yace, string Ace)? FinnisSinclairAce(string cli, string mlearnTraining)
    {
        string? dir = Train(cli, "fs-ace-327", mlearnTraining, """
            descriptor:
              type: ace
              parameters: {rc: 5.0, radial: ChebExpCos, lambda: 3, order: 4, nmax: [10, 6, 3, 2], lmax: [0, 4, 3, 2]}
            model:
              kind: ace
              ridge: 1.0e-10
              smoothness: 2
              embedding: fs
              fs_parameters: [1, 1, 1, 0.5]
              optimizer: lm
              iterations: 3
              fs_ridge: 1.0e-7
            loss: {energy: 1.0, force: 0.05, stress: 0.0}
            """, "model.yace");
        if (dir is null) return null;
        string yace = Path.Combine(dir, "model.yace"), lmp = Path.Combine(dir, "lammps"), ace = Path.Combine(lmp, "mlip.ace");
        if (!File.Exists(ace) && !Export(cli, yace, lmp, "pace-ace")) return null;
        return (yace, ace);
    }

    /// <summary>Trains CONFIG (train set: the first 24 structures of the mlearn set, threads 1, seed 1) unless the cache holds its output.</summary>
    private static string? Train(string cli, string name, string mlearnTraining, string config, string product)
    {
        if (!File.Exists(mlearnTraining)) { Console.WriteLine($"{name}: {mlearnTraining} not found, not trained"); return null; }
        string key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(config + File.GetLastWriteTimeUtc(cli).Ticks)))[..12].ToLowerInvariant();
        string dir = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "mlip", "bench-models", name + "-" + key);
        if (File.Exists(Path.Combine(dir, product))) return dir;
        Directory.CreateDirectory(dir);
        string train = Path.Combine(dir, "train.xyz");
        var structures = StructureFormats.ForReading(mlearnTraining).Read(mlearnTraining);
        StructureFormats.ExtXyz.Write(train, structures.Take(24).ToList());
        string yaml = Path.Combine(dir, "config.yaml");
        File.WriteAllText(yaml, $"train: {train}\n{config}\nseed: 1\nthreads: 1\noutput: {dir}\n");
        Console.WriteLine($"training the bench's {name} model once ({yaml}) ...");
        var (ok, log) = RunCli(cli, ["train", yaml]);
        if (ok && File.Exists(Path.Combine(dir, product))) return dir;
        Console.WriteLine($"{name}: mlip train failed:\n{log}");
        return null;
    }

    private static bool Export(string cli, string model, string output, string format = "auto")
    {
        var (ok, log) = RunCli(cli, ["export", "lammps", "--model", model, "-o", output, "--format", format]);
        if (!ok) Console.WriteLine($"mlip export lammps failed:\n{log}");
        return ok;
    }

    private static (bool Ok, string Log) RunCli(string cli, string[] args)
    {
        var psi = new ProcessStartInfo(cli) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        string e = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode == 0, o.Result + e);
    }
}
