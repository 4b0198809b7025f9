using System.ComponentModel.DataAnnotations;
using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace PaliGemma.Pipeline.Deploy.Tests;

/// <summary>
/// The configuration sections the app binds, found by reflection: every public type in the pgpipe assemblies next
/// to the tests that declares <c>public const string SectionName</c>. Nothing is listed by hand, so a renamed
/// property or section in src/ makes the deploy files fail these tests.
/// </summary>
internal sealed class OptionsCatalog
{
    /// <summary>Sections the deploy files configure, with the project expected to declare each (for messages).</summary>
    public static readonly IReadOnlyDictionary<string, string> ExpectedOwners = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["Database"] = "PaliGemma.Pipeline.Data",
        ["S3"] = "PaliGemma.Pipeline.Catalog",
        ["Catalog"] = "PaliGemma.Pipeline.Catalog",
        ["Messaging"] = "PaliGemma.Pipeline.Hosting",
        ["Observability"] = "PaliGemma.Pipeline.Hosting",
        ["Worker"] = "PaliGemma.Pipeline.Worker",
        ["Producer"] = "PaliGemma.Pipeline.Producer",
        ["Inference"] = "PaliGemma.Inference",
    };

    private OptionsCatalog(IReadOnlyDictionary<string, Type> sections, IReadOnlyList<string> assemblies)
    {
        Sections = sections;
        Assemblies = assemblies;
    }

    public static OptionsCatalog Instance { get; } = Load();

    /// <summary>Section name to Options type.</summary>
    public IReadOnlyDictionary<string, Type> Sections { get; }

    /// <summary>The assemblies searched, for failure messages.</summary>
    public IReadOnlyList<string> Assemblies { get; }

    private static OptionsCatalog Load()
    {
        var sections = new Dictionary<string, Type>(StringComparer.Ordinal);
        var names = new List<string>();
        var self = typeof(OptionsCatalog).Assembly.GetName().Name;
        foreach (var path in Directory.GetFiles(AppContext.BaseDirectory, "PaliGemma.*.dll").Order(StringComparer.Ordinal)
                     .Append(Path.Combine(AppContext.BaseDirectory, "pgpipe.dll")).Where(File.Exists))
        {
            var name = AssemblyName.GetAssemblyName(path);
            if (name.Name == self)
            {
                continue;
            }

            names.Add(name.Name!);
            foreach (var type in Assembly.Load(name).GetExportedTypes())
            {
                var field = type.GetField("SectionName", BindingFlags.Public | BindingFlags.Static);
                if (field is { IsLiteral: true } && field.FieldType == typeof(string) && type.IsClass && !type.IsAbstract)
                {
                    var section = (string)field.GetRawConstantValue()!;
                    if (sections.TryGetValue(section, out var other))
                    {
                        throw new InvalidOperationException($"Section '{section}' is declared by both {other.FullName} and {type.FullName}.");
                    }

                    sections[section] = type;
                }
            }
        }

        return new OptionsCatalog(sections, names);
    }

    /// <summary>
    /// Binds <paramref name="settings"/> (environment-style <c>Section__Key</c> names) the way the hosts do, refusing
    /// keys that bind to nothing and values that do not convert, then validates data annotations (unless
    /// <paramref name="bindOnly"/>) and, when asked, the section's <see cref="IValidateOptions{TOptions}"/>
    /// implementations. Returns one message per problem.
    /// </summary>
    public IReadOnlyList<string> Check(string source, IReadOnlyDictionary<string, string> settings, bool runValidators,
        IDictionary<string, object>? bound = null, bool bindOnly = false)
    {
        var problems = new List<string>();
        var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in settings)
        {
            // The environment-variables provider maps "__" to ":"; do the same so the binder sees what the app sees.
            data[key.Replace("__", ConfigurationPath.KeyDelimiter, StringComparison.Ordinal)] = value;
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(data).Build();
        foreach (var section in configuration.GetChildren().Select(s => s.Key).Distinct(StringComparer.OrdinalIgnoreCase))
        {
            var type = Sections.FirstOrDefault(s => string.Equals(s.Key, section, StringComparison.OrdinalIgnoreCase)).Value;
            if (type is null)
            {
                problems.Add(ExpectedOwners.TryGetValue(section, out var owner)
                    ? $"{source}: section '{section}' is bound by a type in {owner}, which is not built next to the tests (searched: {string.Join(", ", Assemblies)})."
                    : $"{source}: no Options class binds section '{section}' (keys {string.Join(", ", settings.Keys.Where(k => k.StartsWith(section + "__", StringComparison.OrdinalIgnoreCase)))}); known sections: {string.Join(", ", Sections.Keys.Order())}.");
                continue;
            }

            object instance;
            try
            {
                instance = configuration.GetSection(section).Get(type, o => o.ErrorOnUnknownConfiguration = true)
                           ?? Activator.CreateInstance(type)!;
            }
            catch (InvalidOperationException ex)
            {
                problems.Add($"{source}: section '{section}' does not bind to {type.FullName}: {ex.Message}");
                continue;
            }

            var results = new List<ValidationResult>();
            if (!bindOnly && !Validator.TryValidateObject(instance, new ValidationContext(instance), results, validateAllProperties: true))
            {
                problems.AddRange(results.Select(r => $"{source}: {type.Name} invalid: {r.ErrorMessage} ({string.Join(", ", r.MemberNames)})"));
            }

            if (runValidators)
            {
                problems.AddRange(RunValidators(type, instance).Select(m => $"{source}: {m}"));
            }

            if (bound is not null)
            {
                bound[type.Name] = instance;
            }
        }

        return problems;
    }

    private static IEnumerable<string> RunValidators(Type optionsType, object instance)
    {
        var contract = typeof(IValidateOptions<>).MakeGenericType(optionsType);
        foreach (var validator in optionsType.Assembly.GetExportedTypes()
                     .Where(t => t is { IsClass: true, IsAbstract: false } && contract.IsAssignableFrom(t) && t.GetConstructor(Type.EmptyTypes) is not null))
        {
            var result = (ValidateOptionsResult)contract.GetMethod(nameof(IValidateOptions<object>.Validate))!
                .Invoke(Activator.CreateInstance(validator), [Options.DefaultName, instance])!;
            if (result.Failed)
            {
                yield return $"{validator.Name}: {result.FailureMessage}";
            }
        }
    }
}
