using System.Net.WebSockets;

namespace MoltBeat.WebSocket.Client;

public sealed partial class MoltBeatWSClient
{
    /// <summary>
    /// One WebSocket and what belongs to it: its send lock (a <see cref="ClientWebSocket"/> allows one send at a
    /// time), its heartbeat, token-refresh and catch-up timers, the replays of new epochs it runs, and the promise
    /// of its <c>connected</c> message. A lost connection is never reused; reconnecting makes a new one.
    /// </summary>
    private sealed class Connection : IDisposable
    {
        private readonly CancellationTokenSource _aborted = new();
        private readonly Lock _timerLock = new();
        private ITimer? _heartbeat;
        private ITimer? _refresh;
        private ITimer? _catchupTimeout;
        private int _disposed;

        public Connection(ClientWebSocket socket, string? token, bool isReconnect, CancellationTokenSource session)
        {
            Socket = socket;
            Token = token;
            IsReconnect = isReconnect;
            Session = session;
        }

        public ClientWebSocket Socket { get; }

        /// <summary>The token in force on this connection (replaced by a refresh).</summary>
        public string? Token { get; set; }

        public bool IsReconnect { get; }

        /// <summary>The session that opened it: a connection of an ended session is never attached.</summary>
        public CancellationTokenSource Session { get; }

        /// <summary>Completed when the server sent <c>connected</c> and the connection was attached (under the client's lock).</summary>
        public TaskCompletionSource<MoltBeatConnectionInfo> Ready { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Completed when the receive loop has ended.</summary>
        public TaskCompletionSource Ended { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Set under the client's lock when it became the client's current connection.</summary>
        public bool Attached { get; set; }

        /// <summary>When it was attached (a <see cref="TimeProvider"/> timestamp).</summary>
        public long AttachedAt { get; set; }

        /// <summary>Set under the client's lock when the connect attempt gave up on it, so it is never attached.</summary>
        public bool Rejected { get; set; }

        public SemaphoreSlim SendLock { get; } = new(1, 1);

        /// <summary>Rooms being replayed from a new epoch's start, and the events held meanwhile (under the client's lock).</summary>
        public NewEpochCatchup Catchup { get; } = new();

        /// <summary>Set under the client's lock once an epoch change on this connection cleared the dedup window (once is enough).</summary>
        public bool DedupClearedForNewEpoch { get; set; }

        /// <summary>Cancelled when the connection is aborted (dead heartbeat, disconnect, failed connect).</summary>
        public CancellationToken Aborted => _aborted.Token;

        /// <summary>Why it was aborted, for the Disconnected event.</summary>
        public string? AbortReason { get; private set; }

        /// <summary>Frames received so far; the heartbeat compares it between two ticks.</summary>
        public long FramesReceived;

        /// <summary>The value of <see cref="FramesReceived"/> when the outstanding ping was sent; -1 when none is outstanding.</summary>
        public long FramesAtPing = -1;

        public void SetHeartbeat(ITimer timer)
        {
            lock (_timerLock)
            {
                if (_disposed != 0)
                {
                    timer.Dispose();
                    return;
                }
                _heartbeat?.Dispose();
                _heartbeat = timer;
            }
        }

        public void SetRefresh(ITimer? timer)
        {
            lock (_timerLock)
            {
                if (_disposed != 0)
                {
                    timer?.Dispose();
                    return;
                }
                _refresh?.Dispose();
                _refresh = timer;
            }
        }

        /// <summary>Starts (or, with null, stops) the bound on how long a catch-up holds events.</summary>
        public void SetCatchupTimeout(ITimer? timer)
        {
            lock (_timerLock)
            {
                if (_disposed != 0)
                {
                    timer?.Dispose();
                    return;
                }
                _catchupTimeout?.Dispose();
                _catchupTimeout = timer;
            }
        }

        public void StopTimers()
        {
            lock (_timerLock)
            {
                _heartbeat?.Dispose();
                _heartbeat = null;
                _refresh?.Dispose();
                _refresh = null;
                _catchupTimeout?.Dispose();
                _catchupTimeout = null;
            }
        }

        /// <summary>Cuts the connection at once, without a close handshake; the receive loop then ends.</summary>
        public void Abort(string reason)
        {
            lock (_timerLock)
            {
                if (_disposed != 0)
                    return;
                AbortReason ??= reason;
                _aborted.Cancel();
            }
            Socket.Abort();
        }

        /// <summary>Sends a close frame and waits (bounded) for the server's reply, then cuts what is left.</summary>
        public async Task CloseAsync(int code, string reason, TimeProvider time, CancellationToken cancellationToken)
        {
            StopTimers();
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2), time);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken, Aborted);
                await SendLock.WaitAsync(linked.Token).ConfigureAwait(false);
                try
                {
                    if (Socket.State == WebSocketState.Open)
                        await Socket.CloseOutputAsync((WebSocketCloseStatus)code, reason, linked.Token).ConfigureAwait(false);
                }
                finally
                {
                    SendLock.Release();
                }
                // The receive loop reads the server's close reply and ends the connection.
                await Ended.Task.WaitAsync(linked.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or ObjectDisposedException)
            {
            }
            Abort(reason);
        }

        public void Dispose()
        {
            StopTimers();
            lock (_timerLock)
            {
                if (Interlocked.Exchange(ref _disposed, 1) != 0)
                    return;
            }
            Socket.Dispose();
            _aborted.Dispose();
        }
    }
}
