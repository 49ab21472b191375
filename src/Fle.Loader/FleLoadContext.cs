using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Loader;

namespace Fle.Loader;

/// <summary>
/// Loads Fle.Core and its dependencies (Npgsql, Microsoft.Data.Sqlite, DotNetEnv, ZstdSharp,
/// SQLitePCLRaw) from the module's <c>deps</c> folder into their own AssemblyLoadContext, so a session that
/// already loaded other versions of them (another module) can still import Fle, and resolves the native
/// SQLite library from <c>deps/runtimes/&lt;rid&gt;/native</c> for every platform the module ships.
/// </summary>
public sealed class FleLoadContext : AssemblyLoadContext
{
    private static readonly object Gate = new();
    private static readonly StringComparer PathComparer =
        OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal;
    private static readonly Dictionary<string, FleLoadContext> ByModuleDirectory = new(PathComparer);
    private static readonly List<FleLoadContext> Contexts = [];
    private static FleLoadContext? _instance;

    /// <summary>deps folders to load from, the most recently imported copy first.</summary>
    private readonly List<string> _depsDirs = [];
    private readonly string? _cmdletIdentity;

    private FleLoadContext(string? cmdletIdentity) : base("Fle", isCollectible: false)
    {
        _cmdletIdentity = cmdletIdentity;
    }

    internal static string ModuleDirectory => Path.GetDirectoryName(typeof(FleLoadContext).Assembly.Location)!;

    /// <summary>Initialize for the module folder this loader was loaded from.</summary>
    public static Assembly Initialize() => Initialize(ModuleDirectory);

    /// <summary>
    /// Return the cmdlet assembly for a module folder, loaded in a Fle context; Fle.psm1 imports it with
    /// Import-Module -Assembly. Only the first copy's Fle.Loader.dll can be in the default context, so every
    /// copy passes its own folder:
    /// <list type="bullet">
    /// <item>the same folder again (Import-Module -Force, Remove-Module then Import-Module) reuses its context;</item>
    /// <item>a copy with the same Fle.PowerShell version reuses that version's context (PowerShell caches cmdlet
    /// metadata by assembly-qualified type name, so two loaded copies of one version cannot both serve cmdlets),
    /// and its folder becomes the first place that context loads not-yet-loaded dependencies from, so the session
    /// keeps working when the first copy's folder is gone;</item>
    /// <item>a copy of another version gets a context of its own: its cmdlets and dependencies come from its folder.</item>
    /// </list>
    /// </summary>
    public static Assembly Initialize(string moduleDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(moduleDirectory);
        var dir = Path.TrimEndingDirectorySeparator(Path.GetFullPath(moduleDirectory));
        var deps = Path.Combine(dir, "deps");
        lock (Gate)
        {
            if (!ByModuleDirectory.TryGetValue(dir, out var context))
            {
                var identity = CmdletIdentity(deps);
                context = identity is null ? null : Contexts.Find(c => c._cmdletIdentity == identity);
                if (context is null)
                {
                    context = new FleLoadContext(identity);
                    Contexts.Add(context);
                }
                ByModuleDirectory[dir] = context;
            }
            context.Prefer(deps);
            _instance = context;
            return context.LoadFromAssemblyName(new AssemblyName("Fle.PowerShell"));
        }
    }

    private static string? CmdletIdentity(string deps)
    {
        try { return AssemblyName.GetAssemblyName(Path.Combine(deps, "Fle.PowerShell.dll")).FullName; }
        catch (Exception) { return null; }
    }

    private void Prefer(string deps)
    {
        lock (_depsDirs)
        {
            _depsDirs.RemoveAll(d => PathComparer.Equals(d, deps));
            _depsDirs.Insert(0, deps);
        }
    }

    private string[] DepsDirs()
    {
        lock (_depsDirs) return [.. _depsDirs];
    }

    /// <summary>The folder the most recently initialized context loads from first.</summary>
    public static string? DependencyDirectory => _instance?.DepsDirs().FirstOrDefault();

    /// <summary>
    /// The folder of ReadyToRun images for this runtime and platform, relative to deps: <c>r2r/net10.0-linux-x64</c>.
    /// ReadyToRun code is used only by the runtime major version it was compiled for (other runtimes would compile the
    /// image's IL, which may name APIs of that runtime), so other runtimes load the portable IL in deps.
    /// </summary>
    internal static string ReadyToRunFolder { get; } = Path.Combine("r2r", $"net{Environment.Version.Major}.0-{RuntimeId()}");

    protected override Assembly? Load(AssemblyName assemblyName)
    {
        var file = assemblyName.Name + ".dll";
        // a ReadyToRun image (IL plus precompiled code: little to compile at start-up) of the same assembly, when the
        // module ships one for this runtime and platform; else the portable IL
        var path = DepsDirs().SelectMany(d => new[] { Path.Combine(d, ReadyToRunFolder, file), Path.Combine(d, file) }).FirstOrDefault(File.Exists);
        if (path is null) return null;
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

    /// <summary>Native libraries this context loaded, by the name asked for.</summary>
    private readonly Dictionary<string, IntPtr> _native = new(StringComparer.Ordinal);

    protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
    {
        lock (_native)
        {
            // Once loaded, always the same library: after another copy's folder was added, loading its own
            // (identical) e_sqlite3 file would put a second SQLite in the process, and handles of one passed
            // to the other crash it.
            if (_native.TryGetValue(unmanagedDllName, out var loaded)) return loaded;
            foreach (var candidate in NativeCandidates(unmanagedDllName))
            {
                if (File.Exists(candidate) && NativeLibrary.TryLoad(candidate, out var handle))
                {
                    _native[unmanagedDllName] = handle;
                    return handle;
                }
            }
        }
        return IntPtr.Zero; // fall back to the normal probing
    }

    private IEnumerable<string> NativeCandidates(string name)
    {
        var rid = RuntimeId();
        string[] files = OperatingSystem.IsWindows() ? [name + ".dll", name]
            : OperatingSystem.IsMacOS() ? ["lib" + name + ".dylib", name + ".dylib", name]
            : ["lib" + name + ".so", name + ".so", name];
        foreach (var deps in DepsDirs())
        {
            var native = Path.Combine(deps, "runtimes", rid, "native");
            foreach (var f in files) yield return Path.Combine(native, f);
            foreach (var f in files) yield return Path.Combine(deps, f);
        }
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
