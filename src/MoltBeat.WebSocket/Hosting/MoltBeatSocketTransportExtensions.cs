using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;

namespace Microsoft.AspNetCore.Hosting;

/// <summary>Kestrel's socket transport for several server processes on one port.</summary>
public static class MoltBeatSocketTransportExtensions
{
    // Linux's values (asm-generic/socket.h); .NET has no name for SO_REUSEPORT.
    private const int SolSocket = 1;
    private const int SoReusePort = 15;

    /// <summary>
    /// Binds every TCP listening socket of the transport with <c>SO_REUSEPORT</c>, so that several server processes
    /// can listen on the same address and port and the kernel spreads new connections over them. One process holds
    /// only as many connections as its open-file limit allows; processes side by side on one port hold that many
    /// each. They must share rooms through an engine (the Redis engine): without it each process is a server of its
    /// own, and a client sees only the events published to the process it reached. Linux only; other endpoints
    /// (Unix sockets, handles) are bound as usual.
    /// </summary>
    /// <example><c>builder.WebHost.UseSockets(o => o.UseReusePort());</c></example>
    /// <exception cref="PlatformNotSupportedException">Not on Linux (elsewhere the option does not spread connections).</exception>
    public static SocketTransportOptions UseReusePort(this SocketTransportOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("SO_REUSEPORT spreads connections over processes on Linux only.");
        options.CreateBoundListenSocket = BindReusingPort;
        return options;
    }

    private static Socket BindReusingPort(EndPoint endpoint)
    {
        if (endpoint is not IPEndPoint ip)
            return SocketTransportOptions.CreateDefaultBoundListenSocket(endpoint);
        var socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // As Kestrel binds "any" on IPv6: both families on one socket.
            if (ip.Address.Equals(IPAddress.IPv6Any))
                socket.DualMode = true;
            socket.SetRawSocketOption(SolSocket, SoReusePort, BitConverter.GetBytes(1));
            socket.Bind(ip);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
