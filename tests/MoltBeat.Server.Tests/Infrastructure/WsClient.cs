using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace MoltBeat.Server.Tests.Infrastructure;

/// <summary>A plain <see cref="ClientWebSocket"/> speaking protocol.md by hand (batched frames split into messages).</summary>
public sealed class WsClient : IAsyncDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    private readonly Queue<JsonElement> _pending = new();
    private int _nextId;

    private WsClient(ClientWebSocket socket) => Socket = socket;

    public ClientWebSocket Socket { get; }

    /// <summary>Connects and waits for <c>connected</c>.</summary>
    public static async Task<WsClient> ConnectAsync(Uri uri)
    {
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        using var cts = new CancellationTokenSource(DefaultTimeout);
        await socket.ConnectAsync(uri, cts.Token);
        var client = new WsClient(socket);
        var hello = await client.ReceiveAsync();
        Assert.Equal("connected", hello.GetProperty("type").GetString());
        return client;
    }

    public async Task SendAsync(string json)
    {
        using var cts = new CancellationTokenSource(DefaultTimeout);
        await Socket.SendAsync(Encoding.UTF8.GetBytes(json), WebSocketMessageType.Text, true, cts.Token);
    }

    public async Task<JsonElement> SubscribeAsync(string room)
    {
        var id = Interlocked.Increment(ref _nextId);
        await SendAsync($"{{\"type\":\"subscribe\",\"room\":\"{room}\",\"id\":{id}}}");
        var reply = await ReceiveUntilAsync(m => m.TryGetProperty("id", out var i) && i.GetInt32() == id);
        Assert.Equal("subscribed", reply.GetProperty("type").GetString());
        return reply;
    }

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

    public async Task<JsonElement> ReceiveUntilAsync(Func<JsonElement, bool> match, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        for (var i = 0; i < 100_000; i++)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
                break;
            var message = await ReceiveAsync(left);
            if (match(message))
                return message;
        }
        throw new TimeoutException("No matching message.");
    }

    public Task<JsonElement> ReceiveEventAsync(string @event, TimeSpan? timeout = null) =>
        ReceiveUntilAsync(m => m.GetProperty("type").GetString() == "event" && m.GetProperty("event").GetString() == @event, timeout);

    /// <summary>Reads until the server's close frame (messages before it are skipped); returns its code and the time it took.</summary>
    public async Task<WebSocketCloseStatus?> ReceiveCloseAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        for (var i = 0; i < 1_000_000; i++)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
                break;
            try
            {
                if (await ReceiveFrameAsync(left) is null)
                    return Socket.CloseStatus;
            }
            catch (WebSocketException)
            {
                return Socket.CloseStatus;
            }
        }
        throw new TimeoutException("The server did not close.");
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
                return Encoding.UTF8.GetString(message.ToArray());
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
