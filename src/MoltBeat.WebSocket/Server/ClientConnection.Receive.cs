using System.Buffers;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Connections;
using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Server;

internal sealed partial class ClientConnection
{
    // Most client messages are a short subscribe or ping: a message starts in a pooled buffer this big, and grows.
    private const int SmallMessageBuffer = 512;

    /// <summary>
    /// The connection's whole life: authentication, then reading client messages until the client closes, the
    /// socket dies, or the close handshake ends, then the cleanup. One async method, since every idle connection
    /// keeps its state machine (a receive loop awaited by a second method kept two).
    /// </summary>
    private async Task ServeAsync(string? handshakeToken)
    {
        // Rented when a message starts and returned when it has been handled: between messages (an idle
        // connection) the receive waits with an empty buffer, which the WebSocket turns into a zero-byte read of
        // the stream, so that neither a buffer of ours nor the WebSocket's own pending reads are held.
        byte[]? buffer = null;
        var ended = CloseCodes.Normal;
        try
        {
            if (_services.Options.AuthenticateClient is null)
                BecomeReady(null);
            else if (handshakeToken is not null)
                await AuthenticateAsync(handshakeToken, id: null, isRefresh: false).ConfigureAwait(false);
            // The token is not kept for the connection's life (this method's state lives as long).
            handshakeToken = null;
            var length = 0;
            var limit = _services.Options.MaxMessageSize;
            var discarding = false;
            while (true)
            {
                Memory<byte> target;
                if (buffer is null && !discarding)
                {
                    target = Memory<byte>.Empty;
                }
                else
                {
                    buffer ??= ArrayPool<byte>.Shared.Rent(SmallMessageBuffer);
                    if (length == buffer.Length)
                    {
                        // Grow up to one byte past the limit, which is how a too-big message is detected.
                        var bigger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 4, limit + 1));
                        buffer.AsSpan(0, length).CopyTo(bigger);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = bigger;
                    }
                    target = discarding ? buffer.AsMemory() : buffer.AsMemory(length, Math.Min(buffer.Length, limit + 1) - length);
                }
                // No cancellation token: an idle receive then holds no registration; cutting the transport ends it.
                var result = await _socket.ReceiveAsync(target, CancellationToken.None).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    _clientCloseStatus = _socket.CloseStatus is WebSocketCloseStatus.Empty or null ? WebSocketCloseStatus.NormalClosure : _socket.CloseStatus;
                    _clientCloseDescription = _socket.CloseStatusDescription;
                    return;
                }
                if (discarding || IsClosing)
                {
                    // Closing: read and drop until the client's close frame arrives.
                    discarding = true;
                    continue;
                }
                if (result.MessageType == WebSocketMessageType.Binary)
                {
                    RequestClose(CloseCodes.BinaryNotSupported, flushQueued: false);
                    discarding = true;
                    continue;
                }
                length += result.Count;
                if (length > limit)
                {
                    RequestClose(CloseCodes.MessageTooBig, flushQueued: false);
                    discarding = true;
                    continue;
                }
                if (!result.EndOfMessage)
                {
                    // A message has begun (a zero-byte receive returns at its first frame header): read it into a buffer.
                    buffer ??= ArrayPool<byte>.Shared.Rent(SmallMessageBuffer);
                    continue;
                }
                // One request at a time owns the connection's state; an operator's control waits for it (ClientConnection.Revocation.cs).
                await _requestGate.WaitAsync().ConfigureAwait(false);
                try
                {
                    await HandleMessageAsync(buffer is null ? ReadOnlyMemory<byte>.Empty : buffer.AsMemory(0, length)).ConfigureAwait(false);
                }
                finally
                {
                    _requestGate.Release();
                }
                length = 0;
                if (buffer is not null)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = null;
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or OperationCanceledException or ConnectionAbortedException)
        {
            if (ex is WebSocketException socketError && (_socket.State == WebSocketState.Aborted || socketError.WebSocketErrorCode is WebSocketError.Faulted or WebSocketError.InvalidMessageType or WebSocketError.HeaderError))
            {
                // The framework closed the socket for a protocol violation (1002) or invalid UTF-8 (1007): the close
                // below and the disconnected event say so (the framework reports what it sent nowhere but the wire).
                ended = _stream.FrameworkCloseCode switch
                {
                    1002 => CloseCodes.ProtocolError,
                    1007 => CloseCodes.InvalidPayload,
                    { } sent => new CloseCode(sent, "", ReconnectAdvice.DoNotReconnect),
                    null => ended,
                };
            }
            _services.Logger.ConnectionFault(ex, Id);
            if (Deflate && _socket.CloseStatus is null && ex is WebSocketException { WebSocketErrorCode: WebSocketError.Success, InnerException: null })
            {
                // A compressed message that does not inflate: the framework throws and aborts without a close frame,
                // so the client would only see the connection drop. The stream is still open: tell it why (1002).
                ended = CloseCodes.ProtocolError;
                await CloseForBadCompressionAsync().ConfigureAwait(false);
            }
            else if (_socket.CloseStatus is not null)
            {
                // The framework closed for a protocol error (1002/1007) while the client may still be sending.
                // Closing the socket over unread input makes the kernel send a reset, which can destroy the
                // close frame before the client reads it: read and drop its input for a moment first.
                await _stream.DrainAsync(_services.Options.CloseTimeout).ConfigureAwait(false);
            }
        }
        finally
        {
            if (buffer is not null)
                ArrayPool<byte>.Shared.Return(buffer);
            try
            {
                // The client closed, or the socket died: answer a close handshake if one is pending, then stop.
                RequestClose(_clientCloseStatus is { } status ? new CloseCode((int)status, _clientCloseDescription ?? "", ReconnectAdvice.DoNotReconnect) : ended, flushQueued: false, initiatedByClient: true);
                await WaitOrAbortAsync(_output.Finished).ConfigureAwait(false);
                Cleanup();
            }
            finally
            {
                _services.ReleaseConnection();
            }
        }
    }
}
