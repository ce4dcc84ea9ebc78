using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace MoltBeat.Server.Tests.Infrastructure;

/// <summary>HTTP requests to the server's API with the credentials a test picks, and their JSON replies.</summary>
public static class ApiRequests
{
    public static HttpRequestMessage Get(string path, string? apiKey = SecuredServer.ApiKey, string? bearer = null) =>
        WithCredentials(new HttpRequestMessage(HttpMethod.Get, path), apiKey, bearer);

    public static HttpRequestMessage Post(string path, string body, string? apiKey = SecuredServer.ApiKey, string? bearer = null, string contentType = "application/json") =>
        WithCredentials(new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, contentType) }, apiKey, bearer);

    /// <summary>Sends <paramref name="request"/> and returns the status and the JSON body (default when empty).</summary>
    public static async Task<(HttpStatusCode Status, JsonElement Body)> CallAsync(this HttpClient http, HttpRequestMessage request)
    {
        using (request)
        {
            using var response = await http.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
        }
    }

    /// <summary>A WebSocket client of <paramref name="server"/> (a viewer's token) subscribed to <paramref name="room"/>.</summary>
    public static async Task<WsClient> SubscribedClientAsync(this ServerProcess server, string room)
    {
        var client = await WsClient.ConnectAsync(server.WsUrl("?token=" + Jwt.Create(SecuredServer.Secret, "viewer")));
        await client.SubscribeAsync(room);
        return client;
    }

    private static HttpRequestMessage WithCredentials(HttpRequestMessage request, string? apiKey, string? bearer)
    {
        if (apiKey is not null)
            request.Headers.Add("X-Api-Key", apiKey);
        if (bearer is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        return request;
    }
}
