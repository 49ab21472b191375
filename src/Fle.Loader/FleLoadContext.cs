using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Loader;

namespace Fle.Loader;

/// <summary>
/// Loads Fle.Core and its dependencies (Npgsql, Microsoft.Data.Sqlite, Dapper, DotNetEnv, ZstdSharp,
/// SQLitePCLRaw) from the module's <c>deps</c> folder into their own AssemblyLoadContext, so a session that
/// already loaded other versions of them (another module) can still import Fle, and resolves the native
/// SQLite library from <c>deps/runtimes/&lt;rid&gt;/native</c> for every platform the module ships.
/// </summary>
public sealed class FleLoadContext : AssemblyLoadContext
{
    private static readonly object Gate = new();
    private static FleLoadContext? _instance;
    private readonly string _depsDir;

    private FleLoadContext(string depsDir) : base("Fle", isCollectible: false)
    {
        _depsDir = depsDir;
    }

    internal static string ModuleDirectory => Path.GetDirectoryName(typeof(FleLoadContext).Assembly.Location)!;

    /// <summary>
    /// Create the context (once per process) and return the cmdlet assembly loaded inside it; Fle.psm1
    /// imports it with Import-Module -Assembly. A second import (or another copy of the module) reuses it.
    /// </summary>
    public static Assembly Initialize()
    {
        lock (Gate)
        {
            _instance ??= new FleLoadContext(Path.Combine(ModuleDirectory, "deps"));
            return _instance.LoadFromAssemblyName(new AssemblyName("Fle.PowerShell"));
        }
    }

    /// <summary>The folder the context loads from.</summary>
    public static string? DependencyDirectory => _instance?._depsDir;

    protected override Assembly? Load(AssemblyName assemblyName)
    {
        var path = Path.Combine(_depsDir, assemblyName.Name + ".dll");
        if (!File.Exists(path)) return null;
        // A framework assembly (System.*) shipped for older runtimes is used only when the running
        // framework's own copy is older than the one requested.
        if (FrameworkVersion(assemblyName.Name!) is { } fw && (assemblyName.Version is null || fw >= assemblyName.Version)) return null;
        return LoadFromAssemblyPath(path);
    }

    private static Version? FrameworkVersion(string name)
    {
        if (AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") is not string tpa) return null;
        foreach (var p in tpa.Split(Path.PathSeparator))
        {
            if (string.Equals(Path.GetFileNameWithoutExtension(p), name, StringComparison.OrdinalIgnoreCase))
            {
                try { return AssemblyName.GetAssemblyName(p).Version; }
                catch (Exception) { return null; }
            }
        }
        return null;
    }

    protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
    {
        foreach (var candidate in NativeCandidates(unmanagedDllName))
        {
            if (File.Exists(candidate) && NativeLibrary.TryLoad(candidate, out var handle)) return handle;
        }
        return IntPtr.Zero; // fall back to the normal probing
    }

    private IEnumerable<string> NativeCandidates(string name)
    {
        var rid = RuntimeId();
        var native = Path.Combine(_depsDir, "runtimes", rid, "native");
        string[] files = OperatingSystem.IsWindows() ? [name + ".dll", name]
            : OperatingSystem.IsMacOS() ? ["lib" + name + ".dylib", name + ".dylib", name]
            : ["lib" + name + ".so", name + ".so", name];
        foreach (var f in files) yield return Path.Combine(native, f);
        foreach (var f in files) yield return Path.Combine(_depsDir, f);
    }

    /// <summary>win-x64, linux-x64, linux-arm64, osx-x64, osx-arm64 (and musl variants when present).</summary>
    internal static string RuntimeId()
    {
        var arch = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => "x64",
            Architecture.Arm64 => "arm64",
            Architecture.X86 => "x86",
            Architecture.Arm => "arm",
            var a => a.ToString().ToLowerInvariant(),
        };
        if (OperatingSystem.IsWindows()) return "win-" + arch;
        if (OperatingSystem.IsMacOS()) return "osx-" + arch;
        var musl = File.Exists("/etc/alpine-release");
        return (musl ? "linux-musl-" : "linux-") + arch;
    }
}
