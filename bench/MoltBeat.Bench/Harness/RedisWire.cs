using System.Net;
using System.Net.Sockets;
using System.Text;

namespace MoltBeat.Bench.Harness;

/// <summary>
/// A bare RESP connection to the benchmark's own Redis, for what the harness asks it directly and a client
/// library would hide or cost CPU for: <c>MONITOR</c>'s lines, <c>INFO</c>, <c>SCRIPT LOAD</c>, and channel
/// subscribers that read and discard everything (the cheapest stand-ins for nodes receiving a channel).
/// </summary>
internal sealed class RedisWire : IAsyncDisposable
{
    private readonly Socket _socket;
    private byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    private RedisWire(Socket socket) => _socket = socket;

    public static async Task<RedisWire> ConnectAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(IPAddress.Loopback, port).WaitAsync(TimeSpan.FromSeconds(10));
            return new RedisWire(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Sends one command and reads its reply, within 10 s; an error reply throws.</summary>
    public async Task<RedisReply> CommandAsync(params string[] args)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await SendAsync(args, timeout.Token);
        var reply = await ReadAsync(timeout.Token);
        return reply.IsError ? throw new InvalidOperationException($"Redis answered {args[0]} with {reply.Text}") : reply;
    }

    /// <summary>Sends one command as a RESP array of bulk strings.</summary>
    public async Task SendAsync(IReadOnlyList<string> args, CancellationToken cancellationToken)
    {
        var command = new StringBuilder().Append('*').Append(args.Count).Append("\r\n");
        foreach (var arg in args)
            command.Append('$').Append(Encoding.UTF8.GetByteCount(arg)).Append("\r\n").Append(arg).Append("\r\n");
        await _socket.SendAsync(Encoding.UTF8.GetBytes(command.ToString()), cancellationToken);
    }

    /// <summary>Reads one reply (a <c>MONITOR</c> line is one simple string).</summary>
    public async Task<RedisReply> ReadAsync(CancellationToken cancellationToken)
    {
        var line = await ReadLineAsync(cancellationToken);
        var rest = line[1..];
        switch (line[0])
        {
            case '$' when int.Parse(rest, System.Globalization.CultureInfo.InvariantCulture) is var length and >= 0:
                await FillAsync(length + 2, cancellationToken);
                var text = Encoding.UTF8.GetString(_buffer, _start, length);
                _start += length + 2;
                return new(RedisReply.Bulk, text, null);
            case '$':
                return new(RedisReply.Bulk, null, null);
            case '*':
                var items = new List<RedisReply>();
                for (var i = int.Parse(rest, System.Globalization.CultureInfo.InvariantCulture); i > 0; i--)
                    items.Add(await ReadAsync(cancellationToken));
                return new(RedisReply.Array, null, items);
            default:
                return new(line[0], rest, null);
        }
    }

    /// <summary>Reads and discards until the connection ends or <paramref name="cancellationToken"/>; returns the bytes read.</summary>
    public async Task<long> DrainAsync(CancellationToken cancellationToken)
    {
        long bytes = 0;
        try
        {
            for (int n; (n = await _socket.ReceiveAsync(_buffer, cancellationToken)) > 0;)
                bytes += n;
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
        return bytes;
    }

    private async Task<string> ReadLineAsync(CancellationToken cancellationToken)
    {
        for (var searched = 0; ;)
        {
            var end = _buffer.AsSpan(_start + searched, _end - _start - searched).IndexOf("\r\n"u8);
            if (end >= 0)
            {
                var line = Encoding.UTF8.GetString(_buffer, _start, searched + end);
                _start += searched + end + 2;
                return line.Length > 0 ? line : throw new InvalidDataException("Redis sent an empty line");
            }
            searched = Math.Max(0, _end - _start - 1);
            await FillAsync(_end - _start + 1, cancellationToken);
        }
    }

    /// <summary>Reads until at least <paramref name="bytes"/> unread bytes are buffered.</summary>
    private async Task FillAsync(int bytes, CancellationToken cancellationToken)
    {
        if (_buffer.Length < bytes)
            Array.Resize(ref _buffer, Math.Max(bytes, _buffer.Length * 2));
        if (_start + bytes > _buffer.Length)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            (_start, _end) = (0, _end - _start);
        }
        while (_end - _start < bytes)
        {
            var n = await _socket.ReceiveAsync(_buffer.AsMemory(_end), cancellationToken);
            if (n == 0)
                throw new IOException("Redis closed the connection");
            _end += n;
        }
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>One RESP reply: its type character (<c>+ - : $ *</c>), its text (simple, error, integer, bulk; null for a nil bulk) or its items.</summary>
internal sealed record RedisReply(char Kind, string? Text, IReadOnlyList<RedisReply>? Items)
{
    public const char Bulk = '$';
    public const char Array = '*';

    public bool IsError => Kind == '-';
}
