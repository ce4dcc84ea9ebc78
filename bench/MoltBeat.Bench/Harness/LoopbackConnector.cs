using System.Net;
using System.Net.Sockets;

namespace MoltBeat.Bench.Harness;

/// <summary>
/// How the load generator opens its TCP connections: spread over several loopback source addresses
/// (127.0.0.1–127.0.0.N, each with its own ~28 000 ephemeral ports, so tens of thousands of
/// connections to one server port fit), and closed with a reset instead of a FIN, so that runs do not
/// leave tens of thousands of sockets in TIME_WAIT behind them, slowing the kernel down for the next run.
/// </summary>
internal static class LoopbackConnector
{
    /// <summary>Source addresses used round-robin.</summary>
    public const int SourceAddresses = 4;

    private static int _next;

    /// <summary>A TCP socket bound to the next loopback source address, set to reset on close.</summary>
    public static Socket Open()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)
        {
            NoDelay = true,
            LingerState = new LingerOption(true, 0),
        };
        if (OperatingSystem.IsLinux())
        {
            // IP_BIND_ADDRESS_NO_PORT: choose the port at connect time, per destination, not at bind time.
            socket.SetRawSocketOption(0, 24, BitConverter.GetBytes(1));
        }
        var source = 1 + (int)((uint)Interlocked.Increment(ref _next) % SourceAddresses);
        socket.Bind(new IPEndPoint(new IPAddress([127, 0, 0, (byte)source]), 0));
        return socket;
    }
}
