using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Fle.Bench;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
var opts = Args.Parse(args);
var cmd = args.Length > 0 ? args[0] : "help";
try
{
    return cmd switch
    {
        "codec" => await Commands.Codec(opts),
        "write" => await Commands.Write(opts),
        "baseline-block" => await Commands.BaselineBlock(opts),
        "latency" => await Commands.Latency(opts),
        "bytes" => await Commands.Bytes(opts),
        "dump-workload" => Commands.DumpWorkload(opts),
        "populate" => await Commands.Populate(opts),
        "programs" => Commands.Programs(opts),
        "pgdb" => Commands.PgDb(opts),
        "disk" => Commands.Disk(opts),
        "history" => await Commands.History(opts),
        "profile" => await Commands.Profile(opts),
        "profile-keyframe" => Commands.ProfileKeyframe(opts),
        "forks" => await Commands.Forks(opts),
        _ => Usage(),
    };
}
catch (Exception e)
{
    Console.Error.WriteLine(e);
    return 2;
}

static int Run(Action a) { a(); return 0; }

static int Usage()
{
    Console.Error.WriteLine("Fle.Bench codec|write|bytes|baseline-block|latency|dump-workload|populate|programs|pgdb|disk|history|profile|forks [--key value ...] (bench/Run-Bench.ps1 drives it)");
    return 64;
}

/// <summary>--key value pairs.</summary>
public sealed class Args
{
    private readonly Dictionary<string, string> _v = new(StringComparer.OrdinalIgnoreCase);
    public static Args Parse(string[] a)
    {
        var r = new Args();
        for (var i = 1; i < a.Length; i++)
            if (a[i].StartsWith("--", StringComparison.Ordinal))
                r._v[a[i][2..]] = i + 1 < a.Length && !a[i + 1].StartsWith("--", StringComparison.Ordinal) ? a[++i] : "true";
        return r;
    }
    public string? Get(string k) => _v.TryGetValue(k, out var v) ? v : null;
    public string Req(string k) => Get(k) ?? throw new ArgumentException($"--{k} is required");
    public int Int(string k, int d) => Get(k) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : d;
    public double Dbl(string k, double d) => Get(k) is { } v ? double.Parse(v, CultureInfo.InvariantCulture) : d;
    public bool Flag(string k) => Get(k) is "true" or "1";
}
