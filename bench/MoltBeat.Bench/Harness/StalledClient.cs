using System.Net.Sockets;

namespace MoltBeat.Bench.Harness;

/// <summary>
/// A subscriber that never reads: a <see cref="BenchSocket"/> with a tiny receive buffer that subscribes
/// like the others and then stalls.
/// </summary>
internal sealed class StalledClient : IDisposable
{
    private readonly BenchSocket _socket;

    private StalledClient(BenchSocket socket) => _socket = socket;

    public static async Task<StalledClient> ConnectAsync(Uri ws, IEnumerable<byte[]> subscribe)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        return new StalledClient(await BenchSocket.ConnectAsync(ws, subscribe, cts.Token, receiveBufferSize: 4096));
    }

    /// <summary>
    /// Reads what the server had queued for the stalled client, to see how it ended: the close code the server
    /// sent (4009 for a MoltBeat slow consumer), 0 when it was cut without a close frame, or null when the
    /// server still had the connection open after <paramref name="timeout"/>.
    /// </summary>
    public async Task<int?> ReadCloseCodeAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            return await _socket.ReadAsync(static _ => { }, cts.Token);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        catch (SocketException)
        {
            return 0;
        }
    }

    public void Dispose() => _socket.Dispose();
}
