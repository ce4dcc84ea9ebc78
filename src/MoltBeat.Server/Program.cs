using MoltBeat.Server;

return await ServerApp.RunAsync(args);
