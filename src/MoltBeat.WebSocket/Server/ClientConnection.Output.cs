using System.Net.WebSockets;
using MoltBeat.WebSocket.Protocol;
using MoltBeat.WebSocket.Server.Outgoing;

namespace MoltBeat.WebSocket.Server;

// What the connection's output (written by its fan-out worker) asks of the connection.
internal sealed partial class ClientConnection
{
    /// <summary>What waits for this client now (bytes, messages), for <see cref="MoltBeatWSServer.GetLaggingClients"/>.</summary>
    public (long Bytes, int Messages) Backlog => (_output.QueuedBytes, _output.QueuedMessages);

    void IOutputOwner.OnSlowConsumer(long bytes, int messages)
    {
        _services.Logger.SlowConsumer(Id, bytes, messages);
        _services.Hub.CountSlowConsumer();
        RequestClose(CloseCodes.SlowConsumer, flushQueued: false);
    }

    void IOutputOwner.Abort() => AbortTransport();

    string? IOutputOwner.UserId => Info.User?.UserId;

    void IOutputOwner.OnConflated(int count) => _services.Hub.CountConflated(count);

    async Task IOutputOwner.SendCloseFrameAsync()
    {
        try
        {
            if (_socket.State is not (WebSocketState.Open or WebSocketState.CloseReceived))
                return;
            var code = _closeCode ?? CloseCodes.Normal;
            await _socket.CloseOutputAsync((WebSocketCloseStatus)code.Code, code.Reason, _aborted.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ObjectDisposedException || (ex as WebSocketException)?.WebSocketErrorCode == WebSocketError.InvalidState)
        {
            // The receive side closed the socket under us (the client's close, or the framework's 1002/1007 for a
            // protocol error); its close frame has gone out, and aborting now could cut it off. The receive loop
            // is ending the connection.
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or OperationCanceledException)
        {
            // The socket is gone; the receive loop ends and cleans up.
            AbortTransport();
        }
    }
}
