using System.Globalization;
using System.Text;

namespace MoltBeat.Bench.Harness;

/// <summary>
/// A subscriber that reads, but slowly: a <see cref="BenchSocket"/> with a small receive buffer that takes in at
/// most a given number of bytes per second, so the server's queue for it grows until the server conflates it
/// (keyed events) or closes it with 4009 (unkeyed ones).
/// </summary>
internal sealed class LaggingClient : IAsyncDisposable
{
    private readonly BenchSocket _socket;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task<int> _reading;
    private long _events;
    private long _conflated;

    private LaggingClient(BenchSocket socket, double bytesPerSecond)
    {
        _socket = socket;
        _reading = Task.Run(() => socket.ReadAsync(Count, _stop.Token, (bytes, ct) => Task.Delay(TimeSpan.FromSeconds(bytes / bytesPerSecond), ct)));
    }

    /// <summary>Subscribes to the bench room (batching on, like the other subscribers) and starts reading at <paramref name="bytesPerSecond"/>.</summary>
    public static async Task<LaggingClient> ConnectAsync(Uri ws, double bytesPerSecond)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        byte[] subscribe = Encoding.UTF8.GetBytes($"{{\"type\":\"subscribe\",\"room\":\"{Peers.BenchPayload.Room}\"}}");
        var socket = await BenchSocket.ConnectAsync(LoadClients.ClientUri("moltbeat", ws), [subscribe], cts.Token, receiveBufferSize: 4096);
        return new LaggingClient(socket, bytesPerSecond);
    }

    public long Events => Interlocked.Read(ref _events);

    /// <summary>Events the server conflated away for it (the sum of <c>conflated</c> it read).</summary>
    public long Conflated => Interlocked.Read(ref _conflated);

    /// <summary>The close code the server sent it (4009: too slow), 0 for a connection cut without one, or null while it is still connected.</summary>
    public int? CloseCode => _reading.IsCompletedSuccessfully ? _reading.Result : _reading.IsFaulted ? 0 : null;

    /// <summary>Waits up to <paramref name="timeout"/> for the server to close it; returns <see cref="CloseCode"/>.</summary>
    public async Task<int?> WaitClosedAsync(TimeSpan timeout)
    {
        await Task.WhenAny(_reading, Task.Delay(timeout));
        return CloseCode;
    }

    private void Count(ReadOnlySpan<byte> frame)
    {
        KeyedEvents.ForEach(frame, (in KeyedEvent e) =>
        {
            Interlocked.Increment(ref _events);
            Interlocked.Add(ref _conflated, e.Conflated);
        });
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Events} events, {Conflated} conflated, close {CloseCode?.ToString(CultureInfo.InvariantCulture) ?? "none"}");

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _socket.Dispose();
        try
        {
            await _reading;
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or System.Net.Sockets.SocketException or ObjectDisposedException)
        {
        }
        _stop.Dispose();
    }
}
