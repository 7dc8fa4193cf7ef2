using System.Runtime.InteropServices;

namespace Mlip.Interop;

/// <summary>
/// The type of a file system entry on Linux and macOS, as lstat(2) sees it (a symbolic link is not
/// followed). .NET's public API tells files from folders only; the i-PI server must know whether a path
/// is a socket before it removes it as stale, so this reads st_mode through the runtime's own native shim
/// (libSystem.Native, SystemNative_LStat, whose FileStatus starts with int32 flags and int32 st_mode on
/// every platform .NET supports).
/// </summary>
internal static class UnixFileType
{
    private const int TypeMask = 0xF000; // S_IFMT
    private const int Socket = 0xC000;   // S_IFSOCK

    [DllImport("libSystem.Native", EntryPoint = "SystemNative_LStat", SetLastError = true)]
    private static extern int LStat([MarshalAs(UnmanagedType.LPUTF8Str)] string path, [Out] byte[] status);

    /// <summary>st_mode of <paramref name="path"/> without following a link; null when it does not exist or cannot be read.</summary>
    public static int? Mode(string path)
    {
        if (OperatingSystem.IsWindows()) return null;
        var status = new byte[512]; // FileStatus is about 120 bytes; room to spare
        try
        {
            if (LStat(path, status) != 0) return null;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
        return BitConverter.ToInt32(status, 4);
    }

    /// <summary>True for a UNIX domain socket; false for anything else (a regular file, a folder, a link); null when unknown.</summary>
    public static bool? IsSocket(string path) => Mode(path) is int m ? (m & TypeMask) == Socket : null;
}
