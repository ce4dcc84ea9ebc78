using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Server;
using MoltBeat.WebSocket.Tests.Infrastructure;

namespace MoltBeat.WebSocket.Redis.Tests.Infrastructure;

/// <summary>Several MoltBeat servers in this process, each with its own <see cref="RedisEngine"/>, sharing one Redis and one key prefix.</summary>
public sealed class Cluster : IAsyncDisposable
{
    private readonly List<Node> _nodes;
    private readonly Func<Task<Node>> _startNode;

    private Cluster(RedisServer redis, string prefix, List<Node> nodes, Func<Task<Node>> startNode)
    {
        Redis = redis;
        Prefix = prefix;
        _nodes = nodes;
        _startNode = startNode;
    }

    public RedisServer Redis { get; }

    public string Prefix { get; }

    public IReadOnlyList<Node> Nodes => _nodes;

    public Node this[int index] => Nodes[index];

    /// <summary>
    /// Starts <paramref name="count"/> nodes on <paramref name="redis"/> (the shared server when null) under a fresh key prefix;
    /// <paramref name="server"/> configures each node's server options (e.g. its authenticator).
    /// </summary>
    public static async Task<Cluster> StartAsync(int count, RedisServer? redis = null, Action<HistoryOptions>? history = null, Action<RedisEngineOptions>? engine = null, Action<WSServerOptions>? server = null)
    {
        redis ??= await RedisServer.Shared;
        var prefix = "t" + Guid.NewGuid().ToString("N")[..12];
        var nodes = new List<Node>();
        Task<Node> StartNode()
        {
            var bounds = new HistoryOptions();
            history?.Invoke(bounds);
            var options = new RedisEngineOptions { Configuration = redis.Configuration, KeyPrefix = prefix, History = bounds };
            engine?.Invoke(options);
            return Node.StartAsync(new RedisEngine(options), server);
        }
        for (var i = 0; i < count; i++)
            nodes.Add(await StartNode());
        return new Cluster(redis, prefix, nodes, StartNode);
    }

    /// <summary>Starts one more node, like the others, e.g. a node that starts after something happened; the cluster disposes it.</summary>
    public async Task<Node> AddNodeAsync()
    {
        var node = await _startNode();
        _nodes.Add(node);
        return node;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
            await node.DisposeAsync();
    }
}

/// <summary>One MoltBeat server on a free loopback port with its own Redis engine.</summary>
public sealed class Node : IAsyncDisposable
{
    private Node(MoltBeatWSServer server, RedisEngine engine)
    {
        Server = server;
        Engine = engine;
    }

    public MoltBeatWSServer Server { get; }

    public RedisEngine Engine { get; }

    public Uri WsUri(string query = "batch=0") => new($"ws://{Server.Urls[0].Authority}{Server.Options.Path}?{query}");

    public static async Task<Node> StartAsync(RedisEngine engine, Action<WSServerOptions>? configure = null)
    {
        var options = new WSServerOptions { Port = 0, Host = "127.0.0.1", CloseTimeout = TimeSpan.FromSeconds(2) };
        configure?.Invoke(options);
        var server = new MoltBeatWSServer(options, engine);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        await server.StartAsync(cts.Token).WaitAsync(cts.Token);
        return new Node(server, engine);
    }

    /// <summary>Connects a raw client that has received <c>connected</c> already.</summary>
    public async Task<RawClient> ConnectAsync()
    {
        var client = await RawClient.ConnectAsync(WsUri());
        var connected = await client.ReceiveAsync();
        Assert.Equal("connected", connected.GetProperty("type").GetString());
        return client;
    }

    public async Task<PublishedEvent> PublishAsync(string room, int n) =>
        await Server.PublishAsync([room], "tick", new { n }).WaitAsync(TimeSpan.FromSeconds(10));

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        await Engine.DisposeAsync();
    }
}
