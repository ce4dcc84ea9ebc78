using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;

namespace MoltBeat.WebSocket.Hosting;

/// <summary>
/// A <see cref="Stream"/> over a Kestrel connection's transport, so that the framework's WebSocket (RFC 6455
/// handling) runs directly on the connection, without the HTTP layer in between. Reads come from the
/// transport's input pipe. Writes go straight to the <paramref name="socket"/> when there is one: a send
/// the kernel takes at once completes on the writing thread (the fan-out worker), where a write into the
/// output pipe would wake Kestrel's sender on one of its I/O threads, one hop per write, queued behind
/// every other connection's (and behind the HTTP requests on the same threads). Without a socket (another
/// transport, TLS) writes go through the output pipe.
/// </summary>
/// <remarks>
/// Once anything has been sent on the socket, nothing may be written into the output pipe: the two would
/// race on the wire. Everything after the request head, the 101 response included, is written here.
/// </remarks>
internal sealed class DuplexPipeStream(IDuplexPipe transport, Socket? socket = null) : AsyncDuplexStream
{
    /// <summary>
    /// The transport's output pipe, for writers that frame straight into it (see <see cref="Server.Outgoing.ConnectionStream"/>);
    /// null when writes go to the socket.
    /// </summary>
    public PipeWriter? Output => socket is null ? transport.Output : null;

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        buffer.IsEmpty ? WaitForDataAsync(cancellationToken) : ReadIntoAsync(buffer, cancellationToken);

    // A zero-byte read waits until there is something to read and consumes nothing: the WebSocket waits
    // for the next frame so (see ClientConnection's receive loop), holding no buffer meanwhile.
    private async ValueTask<int> WaitForDataAsync(CancellationToken cancellationToken)
    {
        var result = await transport.Input.ReadAsync(cancellationToken).ConfigureAwait(false);
        transport.Input.AdvanceTo(result.Buffer.Start);
        return 0;
    }

    private async ValueTask<int> ReadIntoAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
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

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        socket is null ? WriteToPipeAsync(buffer, cancellationToken) : SendAsync(socket, buffer, cancellationToken);

    // An uncancellable send (every one but a close frame's) borrows pooled event args, so that the socket keeps none of its own.
    private static ValueTask SendAsync(Socket socket, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken) =>
        cancellationToken.CanBeCanceled ? SendCancellableAsync(socket, buffer, cancellationToken) : PooledSocketSend.SendAsync(socket, buffer);

    private static async ValueTask SendCancellableAsync(Socket socket, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        try
        {
            // Completes when the kernel has taken every byte (a stream socket's send goes on past partial writes).
            await socket.SendAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException ex)
        {
            throw new IOException("The connection is closed: " + ex.SocketErrorCode, ex);
        }
    }

    private async ValueTask WriteToPipeAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
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
