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

    /// <summary>Connects and reads the server's <c>connected</c> message, keeping the client id.</summary>
    public static async Task<RawClient> ConnectReadyAsync(Uri uri)
    {
        var client = await ConnectAsync(uri);
        var connected = await client.ReceiveAsync();
        Assert.Equal("connected", connected.GetProperty("type").GetString());
        client.ClientId = connected.GetProperty("clientId").GetString();
        return client;
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

    /// <summary>No message arrives within <paramref name="wait"/>. The socket stays usable (nothing is cancelled).</summary>
    public async Task AssertNothingAsync(TimeSpan wait)
    {
        if (_pending.Count > 0)
            Assert.Fail("Unexpected message: " + _pending.Peek());
        var frame = _inflight ??= ReceiveFrameCoreAsync();
        if (await Task.WhenAny(frame, Task.Delay(wait)) == frame)
        {
            _inflight = null;
            Assert.Fail("Unexpected message: " + await frame);
        }
    }

    // A receive that outlived its caller's timeout stays in flight for the next caller: cancelling a
    // ClientWebSocket receive would abort the socket, which a test must not do by waiting.
    private Task<string?>? _inflight;

    private async Task<string?> ReceiveFrameAsync(TimeSpan timeout)
    {
        var frame = _inflight ??= ReceiveFrameCoreAsync();
        if (await Task.WhenAny(frame, Task.Delay(timeout)) != frame)
            throw new TimeoutException("No message in time.");
        _inflight = null;
        return await frame;
    }

    private async Task<string?> ReceiveFrameCoreAsync()
    {
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        while (true)
        {
            var result = await Socket.ReceiveAsync(buffer, CancellationToken.None);
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
        if (Socket.State == WebSocketState.Open && _inflight is null)
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
