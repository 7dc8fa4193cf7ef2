using Mlip.Validation;

namespace Mlip.IO;

/// <summary>Opens input files with one clear error when they are missing or unreadable.</summary>
public static class InputFile
{
    public static void EnsureExists(string path)
    {
        if (Directory.Exists(path))
            throw new MlipInputException(new InputLocation(path), "is a directory, not a file");
        if (!File.Exists(path))
            throw new MlipInputException(new InputLocation(path), "no such file");
    }

    public static StreamReader OpenText(string path)
    {
        EnsureExists(path);
        try
        {
            return new StreamReader(path, detectEncodingFromByteOrderMarks: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MlipInputException(new InputLocation(path), $"cannot be read: {e.Message}", e);
        }
    }
}
