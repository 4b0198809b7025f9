using System.Text;
using System.Text.RegularExpressions;
using PaliGemma.ModelLayout;

namespace PaliGemma.Hub;

/// <summary>
/// Which files of a repo a pull fetches: for a dtype, the configs and tokenizer files at the root (every root
/// <c>*.json</c>, <c>tokenizer.model</c>) and the three graphs <c>onnx/{vision_encoder,embed_tokens,decoder_model_merged}{suffix}.onnx</c>
/// with their external-data companions (<c>.onnx_data</c>, <c>.onnx_data_1</c>, ...); plus any <c>--include</c> globs,
/// or everything with <c>--all</c>. Globs follow Python's fnmatch, as huggingface_hub's allow_patterns: <c>*</c>
/// also matches '/'.
/// </summary>
public sealed class ModelFileSelection
{
    private readonly Regex[] _includes;
    private readonly HashSet<string> _graphFiles;

    /// <summary>Creates a selection.</summary>
    /// <param name="dtype">The dtype whose graphs are needed; null selects no graphs (only configs and includes).</param>
    /// <param name="includes">Extra fnmatch globs over repo paths.</param>
    /// <param name="all">Select every file.</param>
    public ModelFileSelection(ModelDtype? dtype, IEnumerable<string>? includes = null, bool all = false)
    {
        Dtype = dtype;
        All = all;
        Includes = includes?.Where(i => !string.IsNullOrWhiteSpace(i)).ToArray() ?? [];
        _includes = Includes.Select(FnmatchToRegex).ToArray();
        _graphFiles = dtype is { } d ? ExportLayout.RequiredGraphFiles(d).ToHashSet(StringComparer.Ordinal) : [];
    }

    /// <summary>The dtype whose graphs are selected.</summary>
    public ModelDtype? Dtype { get; }

    /// <summary>Extra globs.</summary>
    public IReadOnlyList<string> Includes { get; }

    /// <summary>Whether every file is selected.</summary>
    public bool All { get; }

    /// <summary>Whether a repo path is selected.</summary>
    public bool Matches(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (All || _includes.Any(r => r.IsMatch(path)))
        {
            return true;
        }

        if (!path.Contains('/', StringComparison.Ordinal))
        {
            return path.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || path == "tokenizer.model";
        }

        if (_graphFiles.Contains(path))
        {
            return true;
        }

        // External data lives beside its graph: NAME.onnx_data, or NAME.onnx_data_N when split.
        var dataAt = path.LastIndexOf(".onnx_data", StringComparison.Ordinal);
        if (dataAt > 0)
        {
            var rest = path[(dataAt + ".onnx_data".Length)..];
            var graph = path[..dataAt] + ".onnx";
            return _graphFiles.Contains(graph) && (rest.Length == 0 || (rest[0] == '_' && rest.Length > 1 && rest[1..].All(char.IsAsciiDigit)));
        }

        return false;
    }

    /// <summary>Dtypes whose three graphs appear in <paramref name="files"/> (repo-relative paths with '/').</summary>
    public static IReadOnlyList<string> DtypesPresent(IEnumerable<string> files)
    {
        var set = files.ToHashSet(StringComparer.Ordinal);
        return ModelDtypes.Names.Where(n => ExportLayout.RequiredGraphFiles(ModelDtypes.Parse(n)).All(set.Contains)).ToArray();
    }

    /// <summary>Translates a Python fnmatch pattern (<c>*</c>, <c>?</c>, <c>[seq]</c>, <c>[!seq]</c>) to an anchored regex.</summary>
    internal static Regex FnmatchToRegex(string pattern)
    {
        var sb = new StringBuilder("^");
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            switch (c)
            {
                case '*':
                    sb.Append(".*");
                    break;
                case '?':
                    sb.Append('.');
                    break;
                case '[':
                    var end = pattern.IndexOf(']', i + 2 <= pattern.Length ? i + 2 : pattern.Length);
                    if (end < 0)
                    {
                        sb.Append(@"\[");
                        break;
                    }

                    var body = pattern[(i + 1)..end];
                    sb.Append('[');
                    if (body.StartsWith('!'))
                    {
                        sb.Append('^');
                        body = body[1..];
                    }

                    sb.Append(body.Replace(@"\", @"\\", StringComparison.Ordinal).Replace("]", @"\]", StringComparison.Ordinal));
                    sb.Append(']');
                    i = end;
                    break;
                default:
                    sb.Append(Regex.Escape(c.ToString()));
                    break;
            }
        }

        sb.Append('$');
        return new Regex(sb.ToString(), RegexOptions.CultureInvariant | RegexOptions.Singleline);
    }
}
