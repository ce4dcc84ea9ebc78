using System.IO.Compression;

namespace MoltBeat.WebSocket.Compression;

/// <summary>
/// Compresses one message as permessage-deflate sends it (RFC 7692 §7.2.1): raw DEFLATE of the message alone (no
/// context from earlier messages), ended with a sync flush whose trailing <c>00 00 FF FF</c> is removed.
/// </summary>
/// <remarks>
/// System.IO.Compression has no way to reset a compressor, and no context may carry over between messages, so each
/// message gets a fresh <see cref="DeflateStream"/>; what is reused is the output buffer (one per thread: the fan-out
/// workers are long-lived threads). It runs once per published event, never per recipient.
/// </remarks>
internal static class MessageDeflater
{
    /// <summary>zlib's level 6, its own default (see docs/performance.md, permessage-deflate, for what level 1 would change).</summary>
    public const int Level = 6;

    private static readonly ZLibCompressionOptions Options = new() { CompressionLevel = Level, CompressionStrategy = ZLibCompressionStrategy.Default };

    [ThreadStatic]
    private static ReusableBuffer? t_buffer;

    /// <summary>The compressed payload of <paramref name="message"/>, or null when compressing does not make it smaller.</summary>
    public static byte[]? Compress(ReadOnlySpan<byte> message)
    {
        var output = t_buffer ??= new ReusableBuffer();
        output.Reset();
        using (var deflate = new DeflateStream(output, Options, leaveOpen: true))
        {
            deflate.Write(message);
            // A sync flush (Z_SYNC_FLUSH) ends the output on a byte boundary with an empty stored block: 00 00 FF FF.
            deflate.Flush();
            // Disposing would add a final block after the flush; the message ends here, so it is cut off below.
            var written = output.Written;
            if (written.Length < 4 || !written[^4..].SequenceEqual(SyncFlushTail))
                throw new InvalidOperationException("The deflate stream did not end with a sync flush.");
            var payload = written[..^4];
            return payload.Length < message.Length ? payload.ToArray() : null;
        }
    }

    private static ReadOnlySpan<byte> SyncFlushTail => [0x00, 0x00, 0xFF, 0xFF];

    /// <summary>A write-only stream over a buffer that grows and is kept, so compressing allocates only the result.</summary>
    private sealed class ReusableBuffer : Stream
    {
        private byte[] _buffer = new byte[4096];
        private int _length;

        public ReadOnlySpan<byte> Written => _buffer.AsSpan(0, _length);

        public void Reset()
        {
            _length = 0;
            // A rare huge event must not keep its buffer on the worker thread for good.
            if (_buffer.Length > 256 * 1024)
                _buffer = new byte[4096];
        }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => _length;

        public override long Position
        {
            get => _length;
            set => throw new NotSupportedException();
        }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (_length + buffer.Length > _buffer.Length)
                Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + buffer.Length));
            buffer.CopyTo(_buffer.AsSpan(_length));
            _length += buffer.Length;
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
