using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using MoltBeat.Bench.Peers;

namespace MoltBeat.Bench.Harness;

/// <summary>
/// A peer as a fan-out scenario measures it: the server process its subscribers connect to (<see cref="Server"/>,
/// whose CPU and memory are measured), and the way events reach it in one publish mode (<see cref="PublishModes"/>):
/// in-process in <c>loop</c> and <c>awaited</c>; one <c>POST</c> per event from this process in <c>http</c>
/// (MoltBeat is then the real server application); another MoltBeat node on the same Redis in <c>redis</c>.
/// </summary>
internal sealed class ServedPeer : IAsyncDisposable
{
    private readonly RedisProcess? _redis;
    private readonly PeerProcess? _publisher;
    private readonly HttpClient? _http;

    private ServedPeer(string mode, PeerProcess server, RedisProcess? redis = null, PeerProcess? publisher = null, HttpClient? http = null)
    {
        Mode = mode;
        Server = server;
        _redis = redis;
        _publisher = publisher;
        _http = http;
    }

    public string Mode { get; }

    /// <summary>The process the subscribers connect to.</summary>
    public PeerProcess Server { get; }

    public static async Task<ServedPeer> StartAsync(string peer, string mode, string root)
    {
        switch (mode)
        {
            case PublishModes.Loop or PublishModes.Awaited:
                return new(mode, await PeerProcess.StartAsync(peer, root));
            case PublishModes.Http:
                var server = await PeerProcess.StartAsync(peer == "moltbeat" ? "moltbeat-server" : peer, root);
                return new(mode, server, http: new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{server.Port}") });
            case PublishModes.Redis when peer == "moltbeat":
                var redis = await RedisProcess.StartAsync();
                try
                {
                    var served = await PeerProcess.StartAsync("moltbeat-redis", root, redis: redis.Configuration);
                    return new(mode, served, redis, await PeerProcess.StartAsync("moltbeat-redis", root, redis: redis.Configuration));
                }
                catch
                {
                    await redis.DisposeAsync();
                    throw;
                }
            default:
                throw new ArgumentException($"peer '{peer}' has no publish mode '{mode}'");
        }
    }

    /// <summary>
    /// Publishes <paramref name="count"/> events back to back (rate 0) or at <paramref name="rate"/> per second
    /// the way <see cref="Mode"/> says, stopping at <paramref name="deadline"/>, with conflation keys when
    /// <paramref name="keys"/> is above 0 (<see cref="BenchPayload.KeyOf"/>); returns the publish calls' timing.
    /// </summary>
    public Task<PublishCalls> PublishAsync(int count, double rate, TimeSpan deadline, int pad = BenchPayload.DefaultPad, int keys = 0) => Mode switch
    {
        PublishModes.Http => PostAsync(count, rate, deadline, pad, keys),
        PublishModes.Redis => _publisher!.PublishAsync(count, rate, deadline, pad, PublishModes.Awaited, keys),
        _ => Server.PublishAsync(count, rate, deadline, pad, Mode, keys),
    };

    // One request per event, each awaited, over one kept-alive connection: a backend's publishing loop.
    private async Task<PublishCalls> PostAsync(int count, double rate, TimeSpan deadline, int pad, int keys)
    {
        var moltbeat = Server.Name == "moltbeat-server";
        var path = new Uri(moltbeat ? "/api/publish" : "/publish", UriKind.Relative);
        using var stop = new CancellationTokenSource(deadline);
        return await BenchPayload.RunAsync(count, rate, async (json, key) =>
        {
            var keyed = key is null ? "" : $",\"key\":\"{key}\"";
            var body = moltbeat ? $"{{\"room\":\"{BenchPayload.Room}\",\"event\":\"bench\"{keyed},\"data\":{json}}}" : json;
            using var content = new StringContent(body, Encoding.UTF8, new MediaTypeHeaderValue("application/json"));
            using var response = await _http!.PostAsync(path, content, CancellationToken.None);
            if (!response.IsSuccessStatusCode)
            {
                var answer = await response.Content.ReadAsStringAsync();
                throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"{Server.Name}: POST {path} answered {(int)response.StatusCode}: {answer}"));
            }
        }, pad, keys, stop.Token);
    }

    public async ValueTask DisposeAsync()
    {
        _http?.Dispose();
        await Server.DisposeAsync();
        if (_publisher is not null)
            await _publisher.DisposeAsync();
        if (_redis is not null)
            await _redis.DisposeAsync();
    }
}
