using System.Text.Json.Nodes;
using Mlip.IO;

namespace Mlip.Training;

/// <summary>
/// The checkpoint of the torch trainers (<see cref="NeuralNetworkTrainer"/>, <see cref="PinnTrainer"/>): epoch,
/// parameters, the best ones so far, the optimiser state and the learning curve, as JSON written atomically.
/// <see cref="Stage"/> (PINN), <see cref="Optimizer"/> and <see cref="SinceBest"/> (NN) are written only when set.
/// </summary>
internal sealed record TrainingCheckpoint
{
    public int? Stage { get; init; }
    public required int Epoch { get; init; }
    public required int ParameterCount { get; init; }
    public string? Optimizer { get; init; }
    public required double[] Parameters { get; init; }
    public required double[] BestParameters { get; init; }

    /// <summary>The best validation loss; written as double.MaxValue while none is known.</summary>
    public required double BestValidation { get; init; }
    public int? SinceBest { get; init; }
    public required double Seconds { get; init; }
    public JsonObject? OptimizerState { get; init; }
    public required IReadOnlyList<LearningPoint> Curve { get; init; }

    public void Write(string path)
    {
        var root = new JsonObject();
        if (Stage is int stage) root["stage"] = stage;
        root["epoch"] = Epoch;
        root["parameter_count"] = ParameterCount;
        if (Optimizer is not null) root["optimizer"] = Optimizer;
        root["parameters"] = Optimizers.Array(Parameters);
        root["best_parameters"] = Optimizers.Array(BestParameters);
        root["best_validation"] = double.IsFinite(BestValidation) ? BestValidation : double.MaxValue;
        if (SinceBest is int since) root["since_best"] = since;
        root["seconds"] = Seconds;
        root["optimizer_state"] = OptimizerState;
        root["curve"] = new JsonArray([.. Curve.Select(p => (JsonNode)new JsonObject
        {
            ["epoch"] = p.Epoch, ["loss"] = p.Loss, ["val_energy_mae"] = p.ValidationEnergyMae, ["val_force_mae"] = p.ValidationForceMae, ["seconds"] = p.Seconds,
        })]);
        AtomicFile.WriteJson(path, root, indented: false);
    }

    public static TrainingCheckpoint Read(string path)
    {
        var cp = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        return new TrainingCheckpoint
        {
            Stage = (int?)cp["stage"],
            Epoch = (int)cp["epoch"]!,
            ParameterCount = (int?)cp["parameter_count"] ?? -1,
            Optimizer = (string?)cp["optimizer"],
            Parameters = Optimizers.Read(cp["parameters"]),
            BestParameters = Optimizers.Read(cp["best_parameters"]),
            BestValidation = (double)cp["best_validation"]!,
            SinceBest = (int?)cp["since_best"],
            Seconds = (double)cp["seconds"]!,
            OptimizerState = cp["optimizer_state"]?.AsObject(),
            Curve = [.. cp["curve"]!.AsArray().Select(p => new LearningPoint((int)p!["epoch"]!, (double)p["loss"]!, (double?)p["val_energy_mae"], (double?)p["val_force_mae"], (double)p["seconds"]!))],
        };
    }
}
