using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace PaliGemma.Pipeline.Cli.Export;

/// <summary>
/// A <see cref="Utf8JsonWriter"/> over an in-memory buffer that is handed to a <see cref="TextWriter"/> in
/// chunks of about 64 KiB: exports of millions of rows stream with flat memory, and the console (synchronised,
/// auto-flushing) sees few large writes instead of one per row. Chunks end at token boundaries, so a UTF-8
/// sequence is never split between two writes.
/// </summary>
internal sealed class JsonChunkWriter : IDisposable
{
    private const int ChunkBytes = 64 * 1024;

    /// <summary>Relaxed escaping keeps non-ASCII text and "&lt;loc0123&gt;" readable; the output is still valid JSON.</summary>
    public static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly TextWriter _output;
    private readonly ArrayBufferWriter<byte> _buffer = new(ChunkBytes * 2);

    public JsonChunkWriter(TextWriter output)
    {
        _output = output;
        Json = new Utf8JsonWriter(_buffer, WriterOptions);
    }

    /// <summary>The writer; call <see cref="EndLine"/> after each JSON Lines value.</summary>
    public Utf8JsonWriter Json { get; }

    /// <summary>
    /// Ends one JSON Lines value with '\n' and resets the writer's state, since one writer accepts only one root value.
    /// </summary>
    public void EndLine()
    {
        Json.Flush();
        _buffer.GetSpan(1)[0] = (byte)'\n';
        _buffer.Advance(1);
        Json.Reset(_buffer);
    }

    /// <summary>Writes text that is already valid JSON at this position (the caller owns its correctness).</summary>
    public async Task WriteRawAsync(string json, CancellationToken ct)
    {
        await FlushAsync(ct).ConfigureAwait(false);
        await _output.WriteAsync(json.AsMemory(), ct).ConfigureAwait(false);
    }

    /// <summary>Copies already valid JSON text from <paramref name="reader"/> to the output at this position.</summary>
    public async Task CopyRawAsync(TextReader reader, CancellationToken ct)
    {
        await FlushAsync(ct).ConfigureAwait(false);
        var chars = new char[ChunkBytes];
        int read;
        while ((read = await reader.ReadAsync(chars.AsMemory(), ct).ConfigureAwait(false)) > 0)
        {
            await _output.WriteAsync(chars.AsMemory(0, read), ct).ConfigureAwait(false);
        }
    }

    /// <summary>Hands a chunk to the output once enough has accumulated.</summary>
    public Task FlushIfFullAsync(CancellationToken ct) =>
        Json.BytesPending + _buffer.WrittenCount >= ChunkBytes ? FlushAsync(ct) : Task.CompletedTask;

    /// <summary>Hands everything written so far to the output and flushes it.</summary>
    public async Task FlushAsync(CancellationToken ct)
    {
        Json.Flush();
        if (_buffer.WrittenCount > 0)
        {
            await _output.WriteAsync(Encoding.UTF8.GetString(_buffer.WrittenSpan).AsMemory(), ct).ConfigureAwait(false);
            _buffer.ResetWrittenCount();
        }

        await _output.FlushAsync(ct).ConfigureAwait(false);
    }

    public void Dispose() => Json.Dispose();
}
