namespace Microsoft.Extensions.DependencyInjection;

/// <summary>What <see cref="MoltBeatServiceCollectionExtensions.AddMoltBeatWebSocket"/> returns, to add an engine such as Redis.</summary>
/// <param name="Services">The application's services.</param>
public sealed record MoltBeatBuilder(IServiceCollection Services);
