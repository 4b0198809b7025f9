using System.Security.Cryptography;
using System.Text;

namespace PaliGemma.Hub;

/// <summary>The two content hashes the Hub names files by.</summary>
public static class BlobHasher
{
    /// <summary>Lower-case hex sha256 of the rest of <paramref name="stream"/> (an LFS file's oid and etag).</summary>
    public static async Task<string> Sha256Async(Stream stream, CancellationToken cancellationToken) =>
        Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false));

    /// <summary>Lower-case hex git blob id: sha1 of <c>"blob {length}\0"</c> then the bytes (a regular file's etag).</summary>
    public static async Task<string> GitBlobSha1Async(Stream stream, long length, CancellationToken cancellationToken)
    {
        using var sha1 = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        sha1.AppendData(Encoding.ASCII.GetBytes($"blob {length}\0"));
        var buffer = new byte[81920];
        int read;
        while ((read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            sha1.AppendData(buffer, 0, read);
        }

        return Convert.ToHexStringLower(sha1.GetHashAndReset());
    }
}
