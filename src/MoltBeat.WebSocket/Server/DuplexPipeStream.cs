using System.Buffers;
using System.IO.Pipelines;

namespace MoltBeat.WebSocket.Server;

/// <summary>
/// A <see cref="Stream"/> over a Kestrel connection's transport pipes, so that the framework's WebSocket
/// (RFC 6455 handling) runs directly on the socket's pipes, without the HTTP layer in between.
/// </summary>
internal sealed class DuplexPipeStream(IDuplexPipe transport) : AsyncDuplexStream
{
    /// <summary>The transport's output pipe, for writers that frame straight into it (see <see cref="Outgoing.ConnectionStream"/>).</summary>
    public PipeWriter Output => transport.Output;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
            return 0;
        while (true)
        {
            var result = await transport.Input.ReadAsync(cancellationToken).ConfigureAwait(false);
            var available = result.Buffer;
            if (!available.IsEmpty)
            {
                var count = (int)Math.Min(available.Length, buffer.Length);
                var consumed = available.Slice(0, count);
                consumed.CopyTo(buffer.Span);
                transport.Input.AdvanceTo(consumed.End);
                return count;
            }
            transport.Input.AdvanceTo(available.End);
            if (result.IsCompleted || result.IsCanceled)
                return 0;
        }
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var result = await transport.Output.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        if (result.IsCompleted)
            throw new IOException("The connection is closed.");
    }

    // WriteAsync has flushed already (PipeWriter.WriteAsync is write + flush): a second flush per write is work for nothing.
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            transport.Input.Complete();
            transport.Output.Complete();
        }
        base.Dispose(disposing);
    }
}
