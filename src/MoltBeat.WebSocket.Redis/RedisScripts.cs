namespace MoltBeat.WebSocket.Redis;

/// <summary>
/// The Lua scripts. Redis runs a script atomically, which is what makes "assign offsets, append to
/// history, publish" one step: every node receives the events of the deployment's one channel in the
/// order the scripts ran, which is offset order in every room.
/// </summary>
internal static class RedisScripts
{
    /// <summary>
    /// What the scripts that touch rooms share: the deployment's generation (<c>RedisKeys.Generation</c>) and the check
    /// that moves it on. Redis replicates asynchronously, so a replica promoted without the primary's last writes holds
    /// the rooms' offsets from before them, in the same epoch: the next events would get those offsets again and a client
    /// that saw the lost ones would take the new ones for repeats or recover past them, a silent gap. Each node tells
    /// the script the <c>all</c> epoch and offset it delivered last; Redis behind that in the same epoch has lost writes,
    /// and the generation moves on. A room started in another generation is emptied when a script touches it, and so
    /// starts again at a new epoch with no history, exactly as after a restart without persistence: clients with an
    /// old position are told <c>recovered:false</c>. All rooms start again, not only those whose writes were lost: no
    /// node knows every room's last offset, and telling a client "recovered" wrongly is the one thing not allowed.
    /// </summary>
    private const string Generation = """
        local function generation(genKey, allMeta, seenEpoch, seenOffset)
          local g = redis.call('GET', genKey) or '0'
          if seenEpoch ~= '' and redis.call('HGET', allMeta, 'e') == seenEpoch
              and tonumber(redis.call('HGET', allMeta, 'o') or '0') < tonumber(seenOffset) then
            g = tostring(redis.call('INCR', genKey))
          end
          return g
        end
        -- True when the room belongs to generation g; else it is emptied (meta and history) and starts again.
        local function current(meta, hist, g)
          if (redis.call('HGET', meta, 'g') or '0') == g then return true end
          redis.call('DEL', meta)
          if hist then redis.call('DEL', hist) end
          return false
        end

        """;

    /// <summary>
    /// Records and publishes a batch of events, in order, each unless its idempotency key is kept already: the
    /// publishes of one node that arrived together (see RedisEngine.Publish.cs), one script call for all of them.
    /// KEYS: 1 the generation, 2 the <c>all</c> meta, then for each event in turn: the meta and history key of each of its
    /// delivery rooms (<c>all</c> last), then its idempotency key when it has one.
    /// ARGV: 1 channel, 2 epoch for rooms that start now, 3 max events per room, 4 max age ms, 5 room idle expiry ms,
    /// 6 the idempotency window ms, 7 the number of events, 8 and 9 the <c>all</c> epoch and offset this node delivered
    /// last (epoch empty: none, see <see cref="Generation"/>); then five per event: its number of delivery rooms, 1 when
    /// it has an idempotency key (else 0), its delivery rooms joined by commas, its frame without the closing brace,
    /// its publish span's traceparent or an empty string (published before its message as a <c>T</c> line, never
    /// recorded).
    /// Returns two values per event: { the message it recorded (see <see cref="RedisMessage"/>), 0 }, or { the message
    /// the first publish of its idempotency key recorded, 1 } for a repeat (of a kept key, or of an event before it in
    /// the same call), which changes nothing.
    /// </summary>
    /// <remarks>
    /// What the events of one call share is done once per room, not once per event: the offset counter moves by the
    /// room's count of events in one <c>HINCRBY</c> (each event then takes the next offset, in order), and the time,
    /// expiry and trims of each room are read or set once (the history trimmed to its length after the call's entries
    /// are added). Per event and room only its history entry (<c>XADD</c>) is left, which is what makes a batch several times cheaper for Redis than as many calls. The messages go out in
    /// one <c>PUBLISH</c>: the message itself for one event, an <c>M</c> message holding them all in order for several.
    /// The first write is the first <c>HINCRBY</c>: a Redis out of memory refuses it, and the whole call, before
    /// anything is written. The check and the publish are one script, so of two nodes publishing the same key at once
    /// exactly one publishes.
    /// </remarks>
    public const string Publish = Generation + """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local maxCount = tonumber(ARGV[3])
        local maxAge = tonumber(ARGV[4])
        local idle = tonumber(ARGV[5])
        local idemMs = tonumber(ARGV[6])
        local count = tonumber(ARGV[7])
        -- The events, which of them repeat a kept idempotency key (in Redis, or of an event before them in this
        -- call), and how many events each room gets.
        local events, rooms, roomOrder, owners = {}, {}, {}, {}
        local g = generation(KEYS[1], KEYS[2], ARGV[8], ARGV[9])
        local k, a = 2, 10
        for e = 1, count do
          local n = tonumber(ARGV[a])
          local ev = { k = k, n = n, roomLine = ARGV[a + 2], head = ARGV[a + 3], trace = ARGV[a + 4] }
          k = k + 2 * n
          if ARGV[a + 1] == '1' then
            k = k + 1
            ev.idem = KEYS[k]
            local kept = redis.call('GET', ev.idem)
            if kept then
              ev.kept = kept
            elseif owners[ev.idem] then
              ev.repeats = owners[ev.idem]
            else
              owners[ev.idem] = e
            end
          end
          if not ev.kept and not ev.repeats then
            for i = 1, n do
              local meta = KEYS[ev.k + 2 * i - 1]
              local room = rooms[meta]
              if not room then
                room = { hist = KEYS[ev.k + 2 * i], count = 0 }
                rooms[meta] = room
                roomOrder[#roomOrder + 1] = meta
              end
              room.count = room.count + 1
            end
          end
          events[e] = ev
          a = a + 5
        end
        -- Each room once: its offsets for this call, its time (stream ids must grow even if the clock steps back).
        for _, meta in ipairs(roomOrder) do
          local room = rooms[meta]
          local restarted = not current(meta, room.hist, g)
          local last = redis.call('HINCRBY', meta, 'o', room.count)
          if last == room.count then
            -- The room starts here (or Redis lost it): a new epoch, and no history left from before.
            redis.call('HSETNX', meta, 'e', ARGV[2])
            redis.call('DEL', room.hist)
          end
          if restarted then redis.call('HSET', meta, 'g', g) end
          room.next = last - room.count + 1
          local ms = now
          local prev = tonumber(redis.call('HGET', meta, 't') or '0')
          if ms < prev then ms = prev end
          room.ms = ms
          redis.call('HSET', meta, 't', ms)
          redis.call('PEXPIRE', meta, idle)
        end
        -- Each event in order: its offsets, its message, its history entries.
        local results, outgoing, allEpoch = {}, {}, nil
        for e = 1, count do
          local ev = events[e]
          if ev.kept then
            ev.msg = ev.kept
          elseif ev.repeats then
            ev.msg = events[ev.repeats].msg
          else
            local n = ev.n
            if not allEpoch then allEpoch = redis.call('HGET', KEYS[ev.k + 2 * n - 1], 'e') end
            local names = {}
            for r in string.gmatch(ev.roomLine, '[^,]+') do names[#names + 1] = r end
            local offs, kv, ids = {}, {}, {}
            for i = 1, n do
              local room = rooms[KEYS[ev.k + 2 * i - 1]]
              local o = room.next
              room.next = o + 1
              offs[i] = string.format('%d', o)
              ids[i] = string.format('%d-%d', room.ms, o)
              kv[i] = '"' .. names[i] .. '":' .. offs[i]
            end
            local msg = 'E' .. allEpoch .. '\n' .. ev.roomLine .. '\n' .. table.concat(offs, ',') .. '\n'
              .. ev.head .. ',"offsets":{' .. table.concat(kv, ',') .. '}}'
            if maxCount > 0 then
              for i = 1, n do
                redis.call('XADD', KEYS[ev.k + 2 * i], ids[i], 'm', msg)
              end
            end
            if ev.idem then
              redis.call('SET', ev.idem, msg, 'PX', idemMs)
            end
            if ev.trace ~= '' then
              outgoing[#outgoing + 1] = 'T' .. ev.trace .. '\n' .. msg
            else
              outgoing[#outgoing + 1] = msg
            end
            ev.msg = msg
          end
          results[#results + 1] = ev.msg
          if ev.kept or ev.repeats then results[#results + 1] = 1 else results[#results + 1] = 0 end
        end
        if maxCount > 0 then
          for _, meta in ipairs(roomOrder) do
            local hist = rooms[meta].hist
            -- Trimmed exactly once per room and call, not on every entry: an exact trim of a full stream moves its
            -- first node's entries each time.
            redis.call('XTRIM', hist, 'MAXLEN', maxCount)
            redis.call('XTRIM', hist, 'MINID', now - maxAge)
            redis.call('PEXPIRE', hist, maxAge)
          end
        end
        if #outgoing == 1 then
          redis.call('PUBLISH', ARGV[1], outgoing[1])
        elseif #outgoing > 1 then
          local parts = { 'M' .. #outgoing .. '\n' }
          for _, m in ipairs(outgoing) do
            parts[#parts + 1] = #m .. '\n'
            parts[#parts + 1] = m
          end
          redis.call('PUBLISH', ARGV[1], table.concat(parts))
        end
        return results
        """;

    /// <summary>
    /// Reads a room's position and, when asked, the events after a given one or else its most recent ones.
    /// KEYS: 1 room meta, 2 room history, 3 <c>all</c> meta, 4 the generation.
    /// ARGV: 1 epoch for rooms that start now, 2 since epoch (empty: no recovery), 3 since offset,
    /// 4 max events per room, 5 max age ms, 6 room idle expiry ms, 7 how many of the last events to return
    /// when there is no recovery (not asked, or not possible), 8 and 9 the <c>all</c> epoch and offset this node
    /// delivered last (see <see cref="Generation"/>).
    /// Returns { epoch, offset, all epoch, all offset, status (0 not asked, 1 recovered, 2 not), messages... }.
    /// </summary>
    public const string Read = Generation + """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local idle = tonumber(ARGV[6])
        local g = generation(KEYS[4], KEYS[3], ARGV[8], ARGV[9])
        local function ensure(meta, hist)
          local restarted = not current(meta, hist, g)
          -- HEXISTS first: Redis out of memory refuses HSETNX even where it would change nothing, and reading a room
          -- that exists must still work then (clients recover while publishes are refused).
          if redis.call('HEXISTS', meta, 'e') == 0 then
            redis.call('HSET', meta, 'e', ARGV[1])
            redis.call('HSETNX', meta, 'o', 0)
            if hist then redis.call('DEL', hist) end
          end
          if restarted then redis.call('HSET', meta, 'g', g) end
          redis.call('PEXPIRE', meta, idle)
        end
        ensure(KEYS[1], KEYS[2])
        ensure(KEYS[3], false)
        local e = redis.call('HGET', KEYS[1], 'e')
        local o = tonumber(redis.call('HGET', KEYS[1], 'o') or '0')
        local ae = redis.call('HGET', KEYS[3], 'e')
        local ao = tonumber(redis.call('HGET', KEYS[3], 'o') or '0')
        local result = { e, o, ae, ao, 0 }
        if ARGV[2] ~= '' then
          result[5] = 2
          local since = tonumber(ARGV[3])
          if ARGV[2] == e and since >= 0 and since <= o then
            local missing = o - since
            if missing == 0 then
              result[5] = 1
            elseif missing <= tonumber(ARGV[4]) then
              redis.call('XTRIM', KEYS[2], 'MINID', now - tonumber(ARGV[5]))
              local got = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', missing)
              -- Offsets in history have no gaps, so the newest `missing` entries are exactly the missed
              -- events when the oldest of them follows `since`; otherwise some were trimmed.
              if #got == missing and tonumber(string.match(got[#got][1], '-(%d+)$')) == since + 1 then
                result[5] = 1
                for i = #got, 1, -1 do result[#result + 1] = got[i][2][2] end
              end
            end
          end
        end
        local last = tonumber(ARGV[7])
        if result[5] ~= 1 and last > 0 and o > 0 then
          redis.call('XTRIM', KEYS[2], 'MINID', now - tonumber(ARGV[5]))
          local got = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', last)
          for i = #got, 1, -1 do result[#result + 1] = got[i][2][2] end
        end
        return result
        """;

    /// <summary>
    /// Publishes a sync marker: the <c>all</c> room's epoch and offset now. A node that receives it has
    /// received every event published before it, or will never receive it.
    /// KEYS: 1 <c>all</c> meta, 2 the generation. ARGV: 1 channel, 2 epoch if <c>all</c> starts now, 3 room idle expiry ms,
    /// 4 and 5 the <c>all</c> epoch and offset this node delivered last (see <see cref="Generation"/>): a node asks for a
    /// marker when its subscription is back, which is when a failover to a replica that missed writes is found first.
    /// </summary>
    public const string Sync = Generation + """
        local g = generation(KEYS[2], KEYS[1], ARGV[4], ARGV[5])
        local restarted = not current(KEYS[1], false, g)
        -- HEXISTS first, as in Read: out of memory, a marker is still published for an `all` that exists.
        if redis.call('HEXISTS', KEYS[1], 'e') == 0 then
          redis.call('HSET', KEYS[1], 'e', ARGV[2])
          redis.call('HSETNX', KEYS[1], 'o', 0)
        end
        if restarted then redis.call('HSET', KEYS[1], 'g', g) end
        redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
        local e = redis.call('HGET', KEYS[1], 'e')
        local o = tonumber(redis.call('HGET', KEYS[1], 'o') or '0')
        redis.call('PUBLISH', ARGV[1], 'S' .. e .. '\n' .. string.format('%d', o))
        return o
        """;

    /// <summary>
    /// Keeps a user's revocation and publishes its control message, in one step: a node that reads the key
    /// after a connection authenticates, or receives the message, sees the same revocation.
    /// KEYS: 1 the user's revocation key. ARGV: 1 revocation time (Unix ms), 2 seconds to keep it,
    /// 3 channel, 4 the control message (see <see cref="RedisMessage"/>).
    /// A revocation older than the one kept does not replace it (nor shorten its life), but is published all the same.
    /// </summary>
    public const string Revoke = """
        local kept = tonumber(redis.call('GET', KEYS[1]) or '0')
        if tonumber(ARGV[1]) >= kept then
          redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
        end
        redis.call('PUBLISH', ARGV[3], ARGV[4])
        return 1
        """;

    /// <summary>
    /// A node's heartbeat: marks it live, shares its connections and its changed subscriber counts.
    /// KEYS: 1 the nodes sorted set, 2 this node's rooms hash, 3 the nodes' connections hash.
    /// ARGV: 1 node id, 2 how long a node stays live without a heartbeat (ms), 3 1 to replace every count (a full write),
    /// 4 this node's connections, then pairs of room and count (0 removes the room).
    /// Forgets nodes whose heartbeat is older than ARGV 2 (and their connections). Returns 1 when this node's counts were still held (its previous
    /// heartbeat is within ARGV 2, so its hash has not expired), 0 when they may be gone and only a full write restores them.
    /// </summary>
    public const string Heartbeat = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local ttl = tonumber(ARGV[2])
        local previous = redis.call('ZSCORE', KEYS[1], ARGV[1])
        local held = (previous and tonumber(previous) > now - ttl) and 1 or 0
        redis.call('ZADD', KEYS[1], now, ARGV[1])
        for _, gone in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - ttl)) do
          redis.call('HDEL', KEYS[3], gone)
        end
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
        redis.call('PEXPIRE', KEYS[1], ttl * 10)
        redis.call('HSET', KEYS[3], ARGV[1], ARGV[4])
        redis.call('PEXPIRE', KEYS[3], ttl * 10)
        if ARGV[3] == '1' then redis.call('DEL', KEYS[2]) end
        for i = 5, #ARGV, 2 do
          if tonumber(ARGV[i + 1]) > 0 then
            redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
          else
            redis.call('HDEL', KEYS[2], ARGV[i])
          end
        end
        redis.call('PEXPIRE', KEYS[2], ttl)
        return held
        """;

    /// <summary>
    /// The live nodes: those whose heartbeat is within the time to live, each with its heartbeat time and connections.
    /// KEYS: 1 the nodes sorted set, 2 the nodes' connections hash. ARGV: 1 how long a node stays live without a heartbeat (ms).
    /// Returns { node id, heartbeat (Unix ms), connections, ... }.
    /// </summary>
    public const string Nodes = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local live = redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[1]), '+inf', 'WITHSCORES')
        local out = {}
        for i = 1, #live, 2 do
          out[#out + 1] = live[i]
          out[#out + 1] = live[i + 1]
          out[#out + 1] = redis.call('HGET', KEYS[2], live[i]) or '0'
        end
        return out
        """;

    /// <summary>
    /// A room's subscribers over the other live nodes (the asking node adds its own, read now).
    /// KEYS: 1 the nodes sorted set. ARGV: 1 how long a node stays live without a heartbeat (ms), 2 the room,
    /// 3 the asking node's id (skipped), 4 the prefix of a node's rooms hash (followed by the id and <c>:rooms</c>).
    /// Nodes whose heartbeat is older are skipped, and so are those whose hash expired.
    /// </summary>
    public const string Subscribers = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local nodes = redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[1]), '+inf')
        local sum = 0
        for _, id in ipairs(nodes) do
          if id ~= ARGV[3] then
            local c = redis.call('HGET', ARGV[4] .. id .. ':rooms', ARGV[2])
            if c then sum = sum + tonumber(c) end
          end
        end
        return sum
        """;

    /// <summary>
    /// Marks a room occupied. KEYS: 1 the occupied hash. ARGV: 1 the room. Returns 1 when it was not occupied (this call
    /// made the transition), 0 when it was (a vacating in progress is cancelled).
    /// </summary>
    public const string MarkOccupied = """
        local was = redis.call('HGET', KEYS[1], ARGV[1])
        redis.call('HSET', KEYS[1], ARGV[1], '0')
        if was then return 0 end
        return 1
        """;

    /// <summary>
    /// Vacates the occupied rooms that have had no subscriber on any live node for the debounce. KEYS: 1 the occupied hash,
    /// 2 the nodes sorted set. ARGV: 1 the debounce (ms), 2 how long a node stays live without a heartbeat (ms), 3 the prefix
    /// of a node's rooms hash. A room seen empty gets the time it was first seen so; one seen with subscribers gets 0 again.
    /// Returns the rooms vacated now (each by this call only: scripts run one at a time).
    /// </summary>
    public const string TakeVacated = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local nodes = redis.call('ZRANGEBYSCORE', KEYS[2], now - tonumber(ARGV[2]), '+inf')
        local all = redis.call('HGETALL', KEYS[1])
        local vacated = {}
        for i = 1, #all, 2 do
          local room, since = all[i], tonumber(all[i + 1])
          local sum = 0
          for _, id in ipairs(nodes) do
            local c = redis.call('HGET', ARGV[3] .. id .. ':rooms', room)
            if c then sum = sum + tonumber(c) end
          end
          if sum > 0 then
            if since ~= 0 then redis.call('HSET', KEYS[1], room, '0') end
          elseif since == 0 then
            redis.call('HSET', KEYS[1], room, now)
          elseif now - since >= tonumber(ARGV[1]) then
            redis.call('HDEL', KEYS[1], room)
            vacated[#vacated + 1] = room
          end
        end
        return vacated
        """;

    /// <summary>How many nodes are live. KEYS: 1 the nodes sorted set. ARGV: 1 how long a node stays live without a heartbeat (ms).</summary>
    public const string LiveNodes = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        return redis.call('ZCOUNT', KEYS[1], now - tonumber(ARGV[1]), '+inf')
        """;

    /// <summary>
    /// Sums one page of history streams for <c>GetStats</c>. KEYS: the streams (keys that expired since the scan count
    /// nothing). Returns { streams that hold entries, entries, bytes Redis reports for them }.
    /// </summary>
    public const string HistoryFigures = """
        local rooms, events, bytes = 0, 0, 0
        for _, key in ipairs(KEYS) do
          local n = redis.call('XLEN', key)
          if n > 0 then
            rooms = rooms + 1
            events = events + n
            bytes = bytes + (redis.call('MEMORY', 'USAGE', key) or 0)
          end
        end
        return { rooms, events, bytes }
        """;

    /// <summary>
    /// The events the <c>all</c> room's history still holds between two offsets, oldest first: what a node whose subscription
    /// was down missed. KEYS: 1 the <c>all</c> room's history. ARGV: 1 the first offset, 2 the last offset.
    /// Reads back from the newest entry, so it costs the entries after the first offset (at most the history's bound).
    /// </summary>
    public const string Missed = """
        local from, to = tonumber(ARGV[1]), tonumber(ARGV[2])
        local found = {}
        local function oldestFirst()
          local ordered = {}
          for i = #found, 1, -1 do ordered[#ordered + 1] = found[i] end
          return ordered
        end
        local before = '+'
        while true do
          local got = redis.call('XREVRANGE', KEYS[1], before, '-', 'COUNT', 128)
          for i = 1, #got do
            local o = tonumber(string.match(got[i][1], '-(%d+)$'))
            if o < from then return oldestFirst() end
            if o <= to then found[#found + 1] = got[i][2][2] end
          end
          if #got < 128 then return oldestFirst() end
          before = '(' .. got[#got][1]
        end
        """;
}
