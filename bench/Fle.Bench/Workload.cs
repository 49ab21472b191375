using System.Globalization;
using System.IO.Compression;
using System.Text;

namespace Fle.Bench;

/// <summary>One generated agent step.</summary>
public sealed record BenchStep(long StepNumber, string Code, string Feedback, byte[] State, string MetadataJson)
{
    public long RawPayload => Encoding.UTF8.GetByteCount(Code) + Encoding.UTF8.GetByteCount(Feedback) + State.Length;
}

/// <summary>Knobs of the generator (defaults = the documented workload, see bench/README.md).</summary>
public sealed record WorkloadOptions
{
    public int Seed { get; init; } = 20260501;
    /// <summary>Number of technologies in the research table (98 ≈ 45 KB).</summary>
    public int Technologies { get; init; } = 98;
    /// <summary>Probability that the entity list changes on a step (then the whole base64(zlib) blob changes).</summary>
    public double EntityChangeRate { get; init; } = 0.35;
    /// <summary>Given a change, the probability that it adds an entity (else it only modifies existing ones).</summary>
    public double EntityAddRate { get; init; } = 0.5;
    public int InitialEntities { get; init; } = 10;
    public int MaxEntities { get; init; } = 200;
    /// <summary>Probability that an agent's namespace (pickled variables) changes on a step.</summary>
    public double NamespaceChangeRate { get; init; } = 0.10;
    /// <summary>Probability that research progress moves on a step / that a technology completes.</summary>
    public double ResearchProgressRate { get; init; } = 0.05;
    public double ResearchCompleteRate { get; init; } = 0.01;
    public int Agents { get; init; } = 1;
    public int CodeBytes { get; init; } = 1500;
    public int FeedbackBytes { get; init; } = 1500;

    /// <summary>The "small state" variant (≈3 KB states) used for the 100,000-step trajectory.</summary>
    public static WorkloadOptions Small => new() { Technologies = 6, InitialEntities = 2, MaxEntities = 12, CodeBytes = 400, FeedbackBytes = 300 };
}

/// <summary>
/// A deterministic (seeded) generator of FLE-like steps: Python-like agent code, environment feedback, and a
/// game state shaped like FLE's GameState.to_raw() serialized with Python's json.dumps defaults
/// (", " and ": " separators). See bench/README.md for the shape and the rates.
/// </summary>
public sealed class FleWorkload
{
    private readonly WorkloadOptions _o;
    private Random _rng;
    private List<Tech> _techs = new();
    private List<Entity> _entities = new();
    private List<List<(string Name, byte[] Value)>> _namespaces = new();
    private List<SortedDictionary<string, int>> _inventories = new();
    private string? _entityBlob;
    private int _currentResearch;
    private double _researchProgress;
    private double _time = 1_764_000_000.0;
    private long _step;
    private int _nextEntityId = 1;

    public FleWorkload(WorkloadOptions? options = null)
    {
        _o = options ?? new WorkloadOptions();
        _rng = new Random(_o.Seed);
        BuildResearch();
        for (var i = 0; i < _o.InitialEntities; i++) AddEntity();
        for (var a = 0; a < _o.Agents; a++)
        {
            var ns = new List<(string, byte[])>();
            foreach (var v in new[] { "iron_pos", "copper_pos", "drill", "furnace", "chest", "belt_path", "coal_pos", "stone_pos", "power_pole", "steam_engine", "boiler", "offshore_pump" })
                ns.Add((v, PickleValue()));
            _namespaces.Add(ns);
            var inv = new SortedDictionary<string, int>(StringComparer.Ordinal);
            foreach (var item in Items) inv[item] = _rng.Next(0, 200);
            _inventories.Add(inv);
        }
    }

    /// <summary>
    /// A copy of this generator at its current step that goes on with its own random numbers (<paramref name="seed"/>):
    /// what a fork of a run looks like, the same game up to the fork point, another path after it.
    /// </summary>
    public FleWorkload Branch(int seed)
    {
        var b = (FleWorkload)MemberwiseClone();
        b._rng = new Random(seed);
        // the clone shares the lists: give it its own (entities and technologies change in place)
        b._techs = _techs.Select(t => t.Copy()).ToList();
        b._entities = _entities.Select(e => e.Copy()).ToList();
        b._namespaces = _namespaces.Select(ns => new List<(string Name, byte[] Value)>(ns)).ToList();
        b._inventories = _inventories.Select(inv => new SortedDictionary<string, int>(inv, StringComparer.Ordinal)).ToList();
        return b;
    }

    public IEnumerable<BenchStep> Take(int count)
    {
        for (var i = 0; i < count; i++) yield return Next();
    }

    public BenchStep Next()
    {
        var n = _step++;
        if (n > 0) Evolve();
        _time += 4 + _rng.NextDouble() * 20;
        var state = Encoding.UTF8.GetBytes(StateJson());
        var code = Code(n);
        var feedback = Feedback(n);
        var meta = string.Create(CultureInfo.InvariantCulture,
            $"{{\"reward\": {_rng.NextDouble() * 100:F3}, \"ticks\": {n * 600 + _rng.Next(600)}, \"prompt_token_usage\": {_rng.Next(3000, 9000)}, \"completion_token_usage\": {_rng.Next(200, 900)}}}");
        return new BenchStep(n, code, feedback, state, meta);
    }

    // ------------------------------------------------------------------ evolution

    private void Evolve()
    {
        if (_rng.NextDouble() < _o.EntityChangeRate)
        {
            if (_rng.NextDouble() < _o.EntityAddRate && _entities.Count < _o.MaxEntities) AddEntity();
            var touched = _rng.Next(1, 5);
            for (var i = 0; i < touched && _entities.Count > 0; i++)
            {
                var e = _entities[_rng.Next(_entities.Count)];
                e.Status = Statuses[_rng.Next(Statuses.Length)];
                e.Fuel = _rng.Next(0, 50);
                e.Output = _rng.Next(0, 100);
                e.Energy = Math.Round(_rng.NextDouble() * 90000, 1);
            }
            _entityBlob = null;
        }
        foreach (var ns in _namespaces)
        {
            if (_rng.NextDouble() >= _o.NamespaceChangeRate) continue;
            if (_rng.NextDouble() < 0.3 && ns.Count < 60) ns.Add(($"var_{ns.Count}_{_rng.Next(1000)}", PickleValue()));
            else { var k = _rng.Next(ns.Count); ns[k] = (ns[k].Name, PickleValue()); }
        }
        foreach (var inv in _inventories)
        {
            var changes = _rng.Next(1, 4);
            for (var i = 0; i < changes; i++)
            {
                var item = Items[_rng.Next(Items.Length)];
                inv[item] = Math.Max(0, inv[item] + _rng.Next(-20, 30));
            }
        }
        if (_rng.NextDouble() < _o.ResearchProgressRate) _researchProgress = Math.Min(0.99, _researchProgress + _rng.NextDouble() * 0.2);
        if (_rng.NextDouble() < _o.ResearchCompleteRate && _techs.Count > 0)
        {
            _techs[_currentResearch].Researched = true;
            _currentResearch = _rng.Next(_techs.Count);
            _researchProgress = 0;
        }
    }

    private void AddEntity()
    {
        var name = EntityNames[_rng.Next(EntityNames.Length)];
        _entities.Add(new Entity
        {
            Id = _nextEntityId++, Name = name, X = _rng.Next(-60, 60) + 0.5, Y = _rng.Next(-60, 60) + 0.5,
            Direction = _rng.Next(4) * 2, Status = Statuses[_rng.Next(Statuses.Length)], Fuel = _rng.Next(0, 50), Output = _rng.Next(0, 100),
            Health = 100 + 50 * _rng.Next(0, 6), DropDx = _rng.Next(-2, 3) * 0.5 + 0.1, DropDy = _rng.Next(-2, 3) * 0.5 - 0.1,
            Energy = Math.Round(_rng.NextDouble() * 90000, 1),
        });
    }

    // ------------------------------------------------------------------ the state (GameState.to_raw())

    private string StateJson()
    {
        var sb = new StringBuilder(64 * 1024);
        sb.Append("{\"entities\": \"").Append(_entityBlob ??= EntityBlob()).Append("\", ");
        sb.Append("\"inventories\": [");
        for (var a = 0; a < _inventories.Count; a++)
        {
            if (a > 0) sb.Append(", ");
            sb.Append('{');
            var first = true;
            foreach (var (k, v) in _inventories[a])
            {
                if (v == 0) continue;
                if (!first) sb.Append(", ");
                first = false;
                sb.Append('"').Append(k).Append("\": ").Append(v);
            }
            sb.Append('}');
        }
        sb.Append("], ");
        sb.Append("\"timestamp\": ").Append(_time.ToString("R", CultureInfo.InvariantCulture)).Append(", ");
        sb.Append("\"namespaces\": [");
        for (var a = 0; a < _namespaces.Count; a++)
        {
            if (a > 0) sb.Append(", ");
            sb.Append('"').Append(Convert.ToHexString(Pickle(_namespaces[a])).ToLowerInvariant()).Append('"');
        }
        sb.Append("], ");
        sb.Append("\"agent_messages\": [");
        if (_step % 37 == 0) sb.Append("{\"sender\": 0, \"message\": \"iron smelting line ready, moving to copper\", \"timestamp\": ").Append(_time.ToString("F3", CultureInfo.InvariantCulture)).Append('}');
        sb.Append("], ");
        sb.Append("\"research\": {\"technologies\": {");
        for (var i = 0; i < _techs.Count; i++)
        {
            if (i > 0) sb.Append(", ");
            _techs[i].Write(sb);
        }
        sb.Append("}, \"current_research\": \"").Append(_techs.Count > 0 ? _techs[_currentResearch].Name : "").Append("\", ");
        sb.Append("\"research_progress\": ").Append(_researchProgress.ToString("R", CultureInfo.InvariantCulture)).Append(", ");
        sb.Append("\"research_queue\": [], \"progress\": {}}}");
        return sb.ToString();
    }

    /// <summary>base64(zlib(json(entities))), as FLE stores it (Python zlib.compress default level 6 ≈ .NET Optimal).</summary>
    private string EntityBlob()
    {
        var sb = new StringBuilder();
        sb.Append('[');
        for (var i = 0; i < _entities.Count; i++)
        {
            if (i > 0) sb.Append(", ");
            _entities[i].Write(sb);
        }
        sb.Append(']');
        using var ms = new MemoryStream();
        using (var z = new ZLibStream(ms, CompressionLevel.Optimal, leaveOpen: true))
            z.Write(Encoding.UTF8.GetBytes(sb.ToString()));
        return Convert.ToBase64String(ms.ToArray());
    }

    /// <summary>Pickle-like bytes (protocol 4 framing, short strings, floats, tuples) for an agent namespace.</summary>
    private static byte[] Pickle(List<(string Name, byte[] Value)> vars)
    {
        using var ms = new MemoryStream();
        ms.Write([0x80, 0x04, 0x95]);
        ms.Write(BitConverter.GetBytes((long)vars.Sum(v => v.Name.Length + v.Value.Length + 4)));
        ms.WriteByte(0x7d); // EMPTY_DICT
        ms.WriteByte(0x94);
        ms.WriteByte(0x28); // MARK
        foreach (var (name, value) in vars)
        {
            ms.WriteByte(0x8c); // SHORT_BINUNICODE
            ms.WriteByte((byte)name.Length);
            ms.Write(Encoding.ASCII.GetBytes(name));
            ms.WriteByte(0x94);
            ms.Write(value);
        }
        ms.Write([0x75, 0x2e]); // SETITEMS, STOP
        return ms.ToArray();
    }

    private byte[] PickleValue()
    {
        using var ms = new MemoryStream();
        // a class reference (fle.env.entities.Position etc.) followed by a few floats and a short string
        var cls = PickleClasses[_rng.Next(PickleClasses.Length)];
        ms.WriteByte(0x8c); ms.WriteByte((byte)cls.Length); ms.Write(Encoding.ASCII.GetBytes(cls)); ms.WriteByte(0x94);
        var floats = _rng.Next(2, 8);
        for (var i = 0; i < floats; i++)
        {
            ms.WriteByte(0x47); // BINFLOAT (big-endian double)
            var bits = BitConverter.GetBytes(Math.Round(_rng.NextDouble() * 200 - 100, 1));
            Array.Reverse(bits);
            ms.Write(bits);
        }
        ms.Write([0x86, 0x94, 0x81, 0x94]); // TUPLE2, MEMOIZE, NEWOBJ, MEMOIZE
        return ms.ToArray();
    }

    private void BuildResearch()
    {
        var names = new List<string>();
        foreach (var b in TechBases)
            for (var level = 1; level <= 7 && names.Count < _o.Technologies; level++)
                names.Add(level == 1 ? b : $"{b}-{level}");
        names = names.Take(_o.Technologies).ToList();
        for (var i = 0; i < names.Count; i++)
        {
            var prereqs = new List<string>();
            var np = i == 0 ? 0 : _rng.Next(1, 4);
            for (var p = 0; p < np; p++) prereqs.Add(names[_rng.Next(i)]);
            var packs = Packs.Take(1 + Math.Min(Packs.Length - 1, i * Packs.Length / Math.Max(1, names.Count))).ToList();
            _techs.Add(new Tech
            {
                Name = names[i], Prerequisites = prereqs.Distinct().ToList(), Ingredients = packs,
                UnitCount = 10 * _rng.Next(1, 60), UnitEnergy = 5 * _rng.Next(1, 13), Researched = i < 3,
            });
        }
    }

    // ------------------------------------------------------------------ code and feedback

    private string Code(long n)
    {
        var sb = new StringBuilder(_o.CodeBytes + 200);
        sb.Append("# Step ").Append(n).Append(": ").Append(Goals[_rng.Next(Goals.Length)]).Append('\n');
        while (sb.Length < _o.CodeBytes)
        {
            var t = CodeTemplates[_rng.Next(CodeTemplates.Length)];
            sb.Append(string.Format(CultureInfo.InvariantCulture, t,
                EntityProtos[_rng.Next(EntityProtos.Length)], _rng.Next(-60, 60), _rng.Next(-60, 60), _rng.Next(1, 50), Resources[_rng.Next(Resources.Length)], _rng.Next(1, 9)));
        }
        return sb.ToString();
    }

    private string Feedback(long n)
    {
        var sb = new StringBuilder(_o.FeedbackBytes + 200);
        var line = 0;
        while (sb.Length < _o.FeedbackBytes)
        {
            var t = FeedbackTemplates[_rng.Next(FeedbackTemplates.Length)];
            sb.Append(line++).Append(": ").Append(string.Format(CultureInfo.InvariantCulture, t,
                EntityProtos[_rng.Next(EntityProtos.Length)], _rng.Next(-60, 60) + 0.5, _rng.Next(-60, 60) + 0.5, _rng.Next(1, 200), Resources[_rng.Next(Resources.Length)], n)).Append('\n');
        }
        return sb.ToString();
    }

    private sealed class Tech
    {
        public required string Name;
        public required List<string> Prerequisites;
        public required List<string> Ingredients;
        public int UnitCount;
        public int UnitEnergy;
        public bool Researched;
        public Tech Copy() => (Tech)MemberwiseClone();

        public void Write(StringBuilder sb)
        {
            sb.Append('"').Append(Name).Append("\": {\"name\": \"").Append(Name).Append("\", \"researched\": ").Append(Researched ? "true" : "false")
              .Append(", \"enabled\": true, \"level\": 1, \"research_unit_count\": ").Append(UnitCount)
              .Append(", \"research_unit_energy\": ").Append(UnitEnergy).Append(".0, \"prerequisites\": [");
            for (var i = 0; i < Prerequisites.Count; i++) sb.Append(i > 0 ? ", \"" : "\"").Append(Prerequisites[i]).Append('"');
            sb.Append("], \"ingredients\": [");
            for (var i = 0; i < Ingredients.Count; i++)
                sb.Append(i > 0 ? ", " : "").Append("{\"name\": \"").Append(Ingredients[i]).Append("\", \"amount\": 1}");
            sb.Append("], \"upgrade\": false, \"valid_for_read\": true}");
        }
    }

    private sealed class Entity
    {
        public int Id;
        public required string Name;
        public double X, Y;
        public int Direction, Fuel, Output, Health;
        public double DropDx, DropDy, Energy;
        public required string Status;
        public Entity Copy() => (Entity)MemberwiseClone();

        public void Write(StringBuilder sb)
        {
            sb.Append(CultureInfo.InvariantCulture, $"{{\"name\": \"{Name}\", \"id\": {Id}, \"position\": {{\"x\": {X:F1}, \"y\": {Y:F1}}}, \"direction\": {Direction}, ")
              .Append(CultureInfo.InvariantCulture, $"\"drop_position\": {{\"x\": {X + DropDx:F1}, \"y\": {Y + DropDy:F1}}}, \"energy\": {Energy:F1}, \"health\": {Health:F1}, \"status\": \"{Status}\", \"warnings\": [], ")
              .Append(CultureInfo.InvariantCulture, $"\"fuel\": {{\"coal\": {Fuel}}}, \"output\": {{\"count\": {Output}}}, \"tile_dimensions\": {{\"tile_width\": 2.0, \"tile_height\": 2.0}}}}");
        }
    }

    private static readonly string[] Items = ["coal", "stone", "iron-ore", "copper-ore", "wood", "iron-plate", "copper-plate", "steel-plate", "iron-gear-wheel", "copper-cable",
        "electronic-circuit", "transport-belt", "inserter", "burner-inserter", "stone-furnace", "burner-mining-drill", "electric-mining-drill", "small-electric-pole",
        "pipe", "boiler", "steam-engine", "offshore-pump", "assembling-machine-1", "lab", "automation-science-pack", "wooden-chest", "iron-chest"];
    private static readonly string[] EntityNames = ["burner-mining-drill", "stone-furnace", "transport-belt", "burner-inserter", "inserter", "wooden-chest", "iron-chest",
        "small-electric-pole", "assembling-machine-1", "electric-mining-drill", "boiler", "steam-engine", "offshore-pump", "pipe", "lab"];
    private static readonly string[] Statuses = ["working", "no_fuel", "no_input", "full_output", "waiting_for_source_items", "no_power", "normal"];
    private static readonly string[] PickleClasses = ["fle.env.entities\nPosition", "fle.env.entities\nBurnerMiningDrill", "fle.env.entities\nFurnace", "builtins\ntuple", "fle.env.entities\nBeltGroup"];
    private static readonly string[] Packs = ["automation-science-pack", "logistic-science-pack", "military-science-pack", "chemical-science-pack", "production-science-pack", "utility-science-pack", "space-science-pack"];
    private static readonly string[] TechBases = ["automation", "logistics", "turrets", "stone-wall", "military", "optics", "electronics", "fast-inserter", "steel-processing", "logistic-science-pack",
        "advanced-material-processing", "engine", "fluid-handling", "oil-processing", "plastics", "advanced-electronics", "sulfur-processing", "battery", "explosives", "circuit-network",
        "solar-energy", "electric-energy-distribution", "railway", "automated-rail-transportation", "toolbelt", "heavy-armor", "weapon-shooting-speed", "physical-projectile-damage",
        "mining-productivity", "research-speed", "inserter-capacity-bonus", "braking-force", "worker-robots-speed", "worker-robots-storage", "stack-inserter", "concrete", "lubricant",
        "modules", "speed-module", "productivity-module", "effectivity-module", "laser", "rocketry", "nuclear-power", "kovarex-enrichment-process", "rocket-silo", "robotics", "construction-robotics",
        "logistic-robotics", "personal-roboport-equipment", "night-vision-equipment", "energy-shield-equipment", "battery-equipment", "solar-panel-equipment", "exoskeleton-equipment",
        "refined-flammables", "energy-weapons-damage", "follower-robot-count", "artillery", "spidertron", "atomic-bomb", "uranium-processing", "uranium-ammo", "coal-liquefaction"];
    private static readonly string[] Goals = ["place a drill on the iron patch and fuel it", "build a smelting column", "connect the furnaces with belts", "craft electronic circuits",
        "set up steam power", "extend the copper line", "fix the blocked inserter", "research automation"];
    private static readonly string[] EntityProtos = ["Prototype.BurnerMiningDrill", "Prototype.StoneFurnace", "Prototype.TransportBelt", "Prototype.BurnerInserter", "Prototype.WoodenChest",
        "Prototype.SmallElectricPole", "Prototype.AssemblingMachine1", "Prototype.ElectricMiningDrill", "Prototype.Boiler", "Prototype.SteamEngine"];
    private static readonly string[] Resources = ["Resource.IronOre", "Resource.CopperOre", "Resource.Coal", "Resource.Stone", "Resource.Water", "Resource.Wood"];
    private static readonly string[] CodeTemplates =
    [
        "target = nearest({4})\nmove_to(target)\nentity = place_entity({0}, position=Position(x={1}, y={2}), direction=Direction.UP)\n",
        "insert_item(Prototype.Coal, entity, quantity={3})\nprint(f\"Inserted coal into {{entity.name}} at {{entity.position}}\")\n",
        "inventory = inspect_inventory()\nif inventory.get(Prototype.IronPlate, 0) < {3}:\n    harvest_resource(nearest({4}), quantity={3})\n",
        "belts = connect_entities(Position(x={1}, y={2}), entity.position, Prototype.TransportBelt)\nprint(f\"Connected with {{len(belts)}} belts\")\n",
        "for i in range({5}):\n    furnace = place_entity(Prototype.StoneFurnace, position=Position(x={1} + 2 * i, y={2}))\n    insert_item(Prototype.Coal, furnace, quantity=5)\n",
        "sleep({5})\nentity = get_entity({0}, entity.position)\nassert entity.status != EntityStatus.NO_FUEL, f\"{{entity.name}} is out of fuel\"\n",
        "craft_item(Prototype.IronGearWheel, quantity={3})\nrecipe = get_prototype_recipe(Prototype.ElectronicCircuit)\nprint(recipe)\n",
        "try:\n    pickup_entity(entity)\nexcept Exception as e:\n    print(f\"Could not pick up {{entity}}: {{e}}\")\n",
    ];
    private static readonly string[] FeedbackTemplates =
    [
        "('Inserted coal into {0} at x={1} y={2}',)",
        "('Connected with {3} belts',)",
        "Error: Could not place {0} at Position(x={1}, y={2}): the area is not buildable (step {5})",
        "('Current inventory: {{{4}: {3}, iron-plate: 12, coal: 40}}',)",
        "('{0} status: working, output {3} items',)",
        "Traceback (most recent call last):\n  File \"policy.py\", line {3}, in <module>\nAssertionError: {0} at x={1} is out of fuel",
        "('Harvested {3} of {4} from x={1} y={2}',)",
    ];
}
