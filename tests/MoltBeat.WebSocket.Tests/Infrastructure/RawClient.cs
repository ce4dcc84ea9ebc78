using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace MoltBeat.WebSocket.Tests.Infrastructure;

/// <summary>
/// A plain <see cref="ClientWebSocket"/> speaking protocol.md by hand, as a third-party client would.
/// Splits batched frames (<c>batch=1</c>) into messages.
/// </summary>
public sealed class RawClient : IAsyncDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    private readonly Queue<JsonElement> _pending = new();
    private int _nextId;

    private RawClient(ClientWebSocket socket) => Socket = socket;

    public ClientWebSocket Socket { get; }

    public string? ClientId { get; set; }

    /// <summary>Frames received so far (a batched frame counts once).</summary>
    public int FramesReceived { get; private set; }

    public static async Task<RawClient> ConnectAsync(Uri uri, Action<ClientWebSocketOptions>? configure = null)
    {
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        configure?.Invoke(socket.Options);
        using var cts = new CancellationTokenSource(DefaultTimeout);
        await socket.ConnectAsync(uri, cts.Token);
        return new RawClient(socket);
    }

    public int NextId() => Interlocked.Increment(ref _nextId);

    public Task SendAsync(string json) => SendRawAsync(Encoding.UTF8.GetBytes(json), WebSocketMessageType.Text);

    public async Task SendRawAsync(byte[] bytes, WebSocketMessageType type, bool endOfMessage = true)
    {
        using var cts = new CancellationTokenSource(DefaultTimeout);
        await Socket.SendAsync(bytes, type, endOfMessage, cts.Token);
    }

    /// <summary>Sends a request with a fresh id and returns the reply that carries the same id.</summary>
    public async Task<JsonElement> RequestAsync(string type, string extraJson = "")
    {
        var id = NextId();
        await SendAsync($"{{\"type\":\"{type}\",\"id\":{id}{(extraJson.Length > 0 ? "," + extraJson : "")}}}");
        // Messages that arrive before the reply (events, replays) are kept for later receives, in order.
        var skipped = new List<JsonElement>();
        var reply = await ReceiveUntilAsync(m => m.TryGetProperty("id", out var i) && i.GetInt32() == id, skipped: skipped);
        foreach (var m in _pending)
            skipped.Add(m);
        _pending.Clear();
        foreach (var m in skipped)
            _pending.Enqueue(m);
        return reply;
    }

    public async Task<JsonElement> SubscribeAsync(string room, string? since = null)
    {
        var reply = await RequestAsync("subscribe", $"\"room\":\"{room}\"" + (since is null ? "" : $",\"since\":{since}"));
        Assert.Equal("subscribed", reply.GetProperty("type").GetString());
        return reply;
    }

    /// <summary>The next message, or an exception when none comes in time or the socket closes.</summary>
    public async Task<JsonElement> ReceiveAsync(TimeSpan? timeout = null)
    {
        if (_pending.Count > 0)
            return _pending.Dequeue();
        var text = await ReceiveFrameAsync(timeout ?? DefaultTimeout)
            ?? throw new InvalidOperationException($"Socket closed: {Socket.CloseStatus} {Socket.CloseStatusDescription}");
        foreach (var line in text.Split('\n'))
            _pending.Enqueue(JsonDocument.Parse(line).RootElement.Clone());
        return _pending.Dequeue();
    }

    /// <summary>Skips messages until one matches (e.g. a reply with an id), within the timeout.</summary>
    public async Task<JsonElement> ReceiveUntilAsync(Func<JsonElement, bool> match, TimeSpan? timeout = null, List<JsonElement>? skipped = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
                throw new TimeoutException("No matching message.");
            var message = await ReceiveAsync(left);
            if (match(message))
                return message;
            skipped?.Add(message);
        }
    }

    public async Task<JsonElement> ReceiveEventAsync(TimeSpan? timeout = null) =>
        await ReceiveUntilAsync(m => m.GetProperty("type").GetString() == "event", timeout);

    /// <summary>Reads until the server's close frame; returns its code. Messages before it are returned too.</summary>
    public async Task<(WebSocketCloseStatus? Status, string? Reason, List<JsonElement> Before)> ReceiveCloseAsync(TimeSpan? timeout = null)
    {
        var before = new List<JsonElement>(_pending);
        _pending.Clear();
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
                throw new TimeoutException("The server did not close.");
            string? text;
            try
            {
                text = await ReceiveFrameAsync(left);
            }
            catch (WebSocketException)
            {
                return (Socket.CloseStatus, Socket.CloseStatusDescription, before);
            }
            if (text is null)
                return (Socket.CloseStatus, Socket.CloseStatusDescription, before);
            foreach (var line in text.Split('\n'))
                before.Add(JsonDocument.Parse(line).RootElement.Clone());
        }
    }

    /// <summary>No message arrives within <paramref name="wait"/>.</summary>
    public async Task AssertNothingAsync(TimeSpan wait)
    {
        if (_pending.Count > 0)
            Assert.Fail("Unexpected message: " + _pending.Peek());
        using var cts = new CancellationTokenSource(wait);
        var buffer = new byte[4096];
        try
        {
            var result = await Socket.ReceiveAsync(buffer, cts.Token);
            Assert.Fail("Unexpected message: " + Encoding.UTF8.GetString(buffer, 0, result.Count));
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task<string?> ReceiveFrameAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        while (true)
        {
            WebSocketReceiveResult result;
            try
            {
                result = await Socket.ReceiveAsync(buffer, cts.Token);
            }
            catch (OperationCanceledException) when (cts.IsCancellationRequested)
            {
                throw new TimeoutException("No message in time.");
            }
            if (result.MessageType == WebSocketMessageType.Close)
                return null;
            message.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                FramesReceived++;
                return Encoding.UTF8.GetString(message.ToArray());
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Socket.State == WebSocketState.Open)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", cts.Token);
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
            {
            }
        }
        Socket.Dispose();
    }
}
