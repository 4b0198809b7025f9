using System.Security.Cryptography;
using System.Text;

namespace PaliGemma.Pipeline.Contracts;

/// <summary>
/// The identity of a model as results and queues know it: a model id plus its dtype. The id is a Hub-style repo id
/// or the folder name of a local model, so a producer without the model files and a worker with them agree.
/// </summary>
/// <param name="Id">Model id, e.g. "paligemma2-3b-pt-448" or "tiny".</param>
/// <param name="Dtype">Graph variant, e.g. "fp32".</param>
public sealed record ModelKey(string Id, string Dtype)
{
    /// <summary>The key stored with results: <c>id:dtype</c>.</summary>
    public override string ToString() => $"{Id}:{Dtype}";

    /// <summary>
    /// RabbitMQ queue for this model's jobs: readable, limited to safe characters, and suffixed with a short hash
    /// of the exact key so two ids that slug alike still get different queues.
    /// </summary>
    public string QueueName
    {
        get
        {
            var key = ToString();
            var slug = new StringBuilder("pgpipe-jobs-");
            foreach (var c in key.ToLowerInvariant())
            {
                slug.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '.' ? c : '-');
            }

            if (slug.Length > 180)
            {
                slug.Length = 180;
            }

            var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..8];
            return $"{slug}-{hash}";
        }
    }

    /// <summary>Parses <c>id:dtype</c> (the dtype is after the last colon).</summary>
    public static ModelKey Parse(string key)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(key);
        var i = key.LastIndexOf(':');
        return i <= 0 || i == key.Length - 1
            ? throw new FormatException($"Model key '{key}' is not of the form id:dtype.")
            : new ModelKey(key[..i], key[(i + 1)..]);
    }
}
