using System.CommandLine;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace SiteRecovery.Ctl.Commands;

/// <summary>
/// <c>srctl failover test|list|show|watch|cleanup|retry|skip|console</c>, <c>srctl manual-action confirm</c> and
/// <c>srctl drill report</c>: start a plan's failover, follow its steps with progress bars, answer what it waits for,
/// and read the evidence it leaves.
/// </summary>
public static class FailoverCommands
{
    public static Command Failover(Option<string> api, Option<bool> json)
    {
        var cmd = new Command("failover", "Fail a recovery plan's machines over, follow the job, clean up a test failover");

        var plan = new Option<string>("--plan") { Description = "Recovery plan id", Required = true };
        var point = new Option<string?>("--point") { Description = "latest (default), latest-processed, latest-app, latest-group (the newest point common to every disk of every machine: multi-VM consistent), or a recovery point's name" };
        var time = new Option<string?>("--time") { Description = "Newest recovery point at or before this UTC time (ISO-8601)" };
        var ttl = new Option<int?>("--ttl") { Description = "Seconds after which a completed test failover cleans itself up" };
        var noWait = new Option<bool>("--no-wait") { Description = "Return once the job is started" };
        var test = new Command("test", "Test failover: boot the plan's machines from their point in an isolated network, replication goes on") { plan, point, time, ttl, noWait };
        test.SetAction((parse, ct) => Run(api, parse, async client =>
        {
            var r = await client.PostAsync("api/failovers", new { plan = parse.GetValue(plan), kind = "test", point = parse.GetValue(point), time = parse.GetValue(time), ttlSeconds = parse.GetValue(ttl) }, ct);
            var jobId = r["jobId"]!.ToString();
            if (parse.GetValue(json) && parse.GetValue(noWait)) { Console.WriteLine(r.ToJsonString()); return 0; }
            if (!parse.GetValue(json)) AnsiConsole.MarkupLine($"test failover job [bold]{Markup.Escape(jobId)}[/] started (point {Markup.Escape(r["point"]!.ToString())})");
            if (parse.GetValue(noWait)) return 0;
            var view = await WatchAsync(client, jobId, parse.GetValue(json), ct);
            if (parse.GetValue(json)) Console.WriteLine(view.ToJsonString());
            else ShowJob(view);
            return view["status"]!.ToString() is "Completed" ? 0 : 1;
        }));
        cmd.Add(test);
        var uPlan = new Option<string>("--plan") { Description = "Recovery plan id", Required = true };
        var uPoint = new Option<string?>("--point") { Description = "latest (default), latest-processed, latest-app, latest-group (the newest point common to every disk of every machine: multi-VM consistent), or a recovery point's name" };
        var uTime = new Option<string?>("--time") { Description = "Newest recovery point at or before this UTC time (ISO-8601)" };
        var unplanned = new Command("unplanned", "Unplanned failover: the source may be gone; each machine's disks are materialized at its point and it boots from them; then commit, change-point or rollback") { uPlan, uPoint, uTime };
        unplanned.SetAction((parse, ct) => Run(api, parse, async client =>
        {
            var r = await client.PostAsync("api/failovers", new { plan = parse.GetValue(uPlan), kind = "unplanned", point = parse.GetValue(uPoint), time = parse.GetValue(uTime) }, ct);
            var jobId = r["jobId"]!.ToString();
            if (!parse.GetValue(json)) AnsiConsole.MarkupLine($"unplanned failover job [bold]{Markup.Escape(jobId)}[/] started (point {Markup.Escape(r["point"]!.ToString())})");
            var view = await WatchAsync(client, jobId, parse.GetValue(json), ct);
            if (parse.GetValue(json)) Console.WriteLine(view.ToJsonString());
            else
            {
                ShowJob(view);
                if (view["status"]!.ToString() == "Completed")
                    AnsiConsole.MarkupLine($"the machines run uncommitted: [bold]srctl failover commit {Markup.Escape(jobId)}[/], change-point or rollback");
            }
            return view["status"]!.ToString() is "Completed" ? 0 : 1;
        }));
        cmd.Add(unplanned);
        var pPlan = new Option<string>("--plan") { Description = "Recovery plan id", Required = true };
        var pAutoRollback = new Option<int?>("--auto-rollback")
        {
            Description = "Commit policy: roll the failover back by itself (the source resumed) if nobody commits it within SECONDS of its completion (at least the node's auto-rollback-minimum, 60 s by default; at most 7 days)",
        };
        var planned = new Command("planned", "Planned failover: the source's exports turn read-only, every delta drains, a final point is taken; the machines boot from it (zero loss); then commit or rollback") { pPlan, pAutoRollback };
        planned.SetAction((parse, ct) => Run(api, parse, async client =>
        {
            var r = await client.PostAsync("api/failovers", new { plan = parse.GetValue(pPlan), kind = "planned", autoRollbackSeconds = parse.GetValue(pAutoRollback) }, ct);
            var jobId = r["jobId"]!.ToString();
            if (!parse.GetValue(json))
                AnsiConsole.MarkupLine($"planned failover job [bold]{Markup.Escape(jobId)}[/] started" +
                    (parse.GetValue(pAutoRollback) is { } n ? $" (rolled back by itself unless committed within {n} s of completing)" : ""));
            var view = await WatchAsync(client, jobId, parse.GetValue(json), ct);
            if (parse.GetValue(json)) Console.WriteLine(view.ToJsonString());
            else ShowJob(view);
            return view["status"]!.ToString() is "Completed" ? 0 : 1;
        }));
        cmd.Add(planned);

        var commitJob = new Argument<string>("job") { Description = "Failover job id" };
        var commit = new Command("commit", "Make a completed planned or unplanned failover final (its machines stay failed over)") { commitJob };
        commit.SetAction((parse, ct) => Run(api, parse, async client =>
        {
            var r = await client.PostAsync($"api/failovers/{Uri.EscapeDataString(parse.GetValue(commitJob)!)}/commit", new { }, ct);
            if (parse.GetValue(json)) Console.WriteLine(r.ToJsonString());
            else AnsiConsole.MarkupLine($"[green]committed[/]: {Markup.Escape(parse.GetValue(commitJob)!)}; each machine moves onto an agent here that captures its writes " +
                $"(its history says when: [bold]srctl failover show {Markup.Escape(parse.GetValue(commitJob)!)}[/]; a reprotect waits for it)");
            return 0;
        }));
        cmd.Add(commit);

        var rollbackJob = new Argument<string>("job") { Description = "Failover job id" };
        var rollbackReason = new Option<string?>("--reason") { Description = "Why (kept with the job)" };
        var rollback = new Command("rollback", "Undo an uncommitted planned or unplanned failover: stop its machines, remove their images") { rollbackJob, rollbackReason };
        rollback.SetAction((parse, ct) => Run(api, parse, async client =>
        {
            await client.PostAsync($"api/failovers/{Uri.EscapeDataString(parse.GetValue(rollbackJob)!)}/rollback", new { reason = parse.GetValue(rollbackReason) }, ct);
            var v = await WatchAsync(client, parse.GetValue(rollbackJob)!, parse.GetValue(json), ct, until: s => s == "CleanedUp");
            if (parse.GetValue(json)) Console.WriteLine(v.ToJsonString());
            else AnsiConsole.MarkupLine($"[yellow]rolled back[/]: {Markup.Escape(v["history"]!.AsArray().Last()!.ToString())}");
            return 0;
        }));
        cmd.Add(rollback);

        var changeJob = new Argument<string>("job") { Description = "Failover job id" };
        var changePoint = new Option<string?>("--point") { Description = "latest, latest-processed, latest-app, latest-group (multi-VM consistent), or a recovery point's name" };
        var changeTime = new Option<string?>("--time") { Description = "Newest recovery point at or before this UTC time" };
        var change = new Command("change-point", "Run a completed, uncommitted failover again at another point (the machines restart on it)") { changeJob, changePoint, changeTime };
        change.SetAction((parse, ct) => Run(api, parse, async client =>
        {
            var id = parse.GetValue(changeJob)!;
            await client.PostAsync($"api/failovers/{Uri.EscapeDataString(id)}/change-point", new { point = parse.GetValue(changePoint), time = parse.GetValue(changeTime) }, ct);
            var v = await WatchAsync(client, id, parse.GetValue(json), ct);
            if (parse.GetValue(json)) Console.WriteLine(v.ToJsonString());
            else ShowJob(v);
            return v["status"]!.ToString() is "Completed" ? 0 : 1;
        }));
        cmd.Add(change);

        var list = new Command("list", "Failover jobs, newest first");
        list.SetAction((parse, ct) => Run(api, parse, async client =>
        {
            var r = await client.GetAsync("api/failovers", ct);
            if (parse.GetValue(json)) { Console.WriteLine(r.ToJsonString()); return 0; }
            var table = new Table().AddColumns("job", "plan", "kind", "status", "steps", "now", "drill");
            foreach (var j in r.AsArray())
                table.AddRow(Esc(j!["jobId"]), Esc(j["planId"]), Esc(j["kind"]), Status(j["status"]!.ToString()), $"{j["stepsDone"]}/{j["steps"]}", Esc(j["current"]),
                    j["drillPassed"] is null ? "-" : j["drillPassed"]!.GetValue<bool>() ? "[green]passed[/]" : "[red]failed[/]");
            AnsiConsole.Write(table);
            return 0;
        }));
        cmd.Add(list);

        var job = new Argument<string>("job") { Description = "Failover job id" };
        var show = new Command("show", "A failover job: its steps, machines and history") { job };
        show.SetAction((parse, ct) => Run(api, parse, async client =>
        {
            var v = await client.GetAsync($"api/failovers/{Uri.EscapeDataString(parse.GetValue(job)!)}", ct);
            if (parse.GetValue(json)) Console.WriteLine(v.ToJsonString());
            else ShowJob(v);
            return 0;
        }));
        cmd.Add(show);

        var watchJob = new Argument<string>("job") { Description = "Failover job id" };
        var watch = new Command("watch", "Follow a failover job live until it completes, fails a step or waits for an operator") { watchJob };
        watch.SetAction((parse, ct) => Run(api, parse, async client =>
        {
            var v = await WatchAsync(client, parse.GetValue(watchJob)!, parse.GetValue(json), ct);
            if (parse.GetValue(json)) Console.WriteLine(v.ToJsonString());
            else ShowJob(v);
            return 0;
        }));
        cmd.Add(watch);

        var cleanupJob = new Argument<string>("job") { Description = "Failover job id" };
        var reason = new Option<string?>("--reason") { Description = "Why (kept with the job)" };
        var cleanup = new Command("cleanup", "Remove everything a test failover made (machines, exports, overlays, files); waits until done") { cleanupJob, reason };
        cleanup.SetAction((parse, ct) => Run(api, parse, async client =>
        {
            var id = Uri.EscapeDataString(parse.GetValue(cleanupJob)!);
            await client.PostAsync($"api/failovers/{id}/cleanup", new { reason = parse.GetValue(reason) }, ct);
            var v = await WatchAsync(client, parse.GetValue(cleanupJob)!, parse.GetValue(json), ct, until: s => s == "CleanedUp");
            if (parse.GetValue(json)) Console.WriteLine(v.ToJsonString());
            else AnsiConsole.MarkupLine($"[green]cleaned up[/]: {Markup.Escape(v["history"]!.AsArray().Last()!.ToString())}");
            return 0;
        }));
        cmd.Add(cleanup);

        cmd.Add(StepCommand(api, json, "retry", "Run a failed step again", comment: false));
        cmd.Add(StepCommand(api, json, "skip", "Go on past a failed step (the comment is kept)", comment: true));

        var consoleJob = new Argument<string>("job") { Description = "Failover job id" };
        var machine = new Argument<string>("machine") { Description = "Machine id" };
        var lines = new Option<int>("--lines") { Description = "Last lines to show", DefaultValueFactory = _ => 60 };
        var follow = new Option<bool>("--follow") { Description = "Keep printing new lines" };
        var console = new Command("console", "A started machine's serial console (kept with its job)") { consoleJob, machine, lines, follow };
        console.SetAction((parse, ct) => Run(api, parse, async client =>
        {
            var path = $"api/failovers/{Uri.EscapeDataString(parse.GetValue(consoleJob)!)}/machines/{Uri.EscapeDataString(parse.GetValue(machine)!)}/console";
            var text = await client.GetTextAsync($"{path}?lines={parse.GetValue(lines)}", ct);
            Console.Write(text.EndsWith('\n') ? text : text + "\n");
            var seen = text;
            while (parse.GetValue(follow) && !ct.IsCancellationRequested)
            {
                await Task.Delay(1000, ct);
                // The tail shown first ends the console as it was; print whatever follows it.
                var full = await client.GetTextAsync($"{path}?lines=100000", ct);
                if (full.Length > seen.Length && full.EndsWith(seen, StringComparison.Ordinal) is false && full.Contains(seen, StringComparison.Ordinal))
                    Console.Write(full[(full.LastIndexOf(seen, StringComparison.Ordinal) + seen.Length)..]);
                if (full.Contains(seen, StringComparison.Ordinal)) seen = full;
            }
            return 0;
        }));
        cmd.Add(console);
        return cmd;
    }

    public static Command ManualAction(Option<string> api, Option<bool> json)
    {
        var cmd = new Command("manual-action", "Answer the manual action a failover waits at");
        var job = new Argument<string>("job") { Description = "Failover job id" };
        var step = new Argument<int>("step") { Description = "Step index of the manual action" };
        var comment = new Option<string>("--comment") { Description = "What was done (kept with the job)", Required = true };
        var confirm = new Command("confirm", "Confirm the manual action, so the failover goes on") { job, step, comment };
        confirm.SetAction((parse, ct) => Run(api, parse, async client =>
        {
            var r = await client.PostAsync($"api/failovers/{Uri.EscapeDataString(parse.GetValue(job)!)}/manual-actions/{parse.GetValue(step)}/confirm", new { comment = parse.GetValue(comment) }, ct);
            if (parse.GetValue(json)) Console.WriteLine(r.ToJsonString());
            else AnsiConsole.MarkupLine($"manual action {parse.GetValue(step)} confirmed; follow the job with srctl failover watch {Markup.Escape(parse.GetValue(job)!)}");
            return 0;
        }));
        cmd.Add(confirm);
        return cmd;
    }

    public static Command Drill(Option<string> api, Option<bool> json)
    {
        var cmd = new Command("drill", "Drill reports: the evidence a test failover leaves");
        var job = new Argument<string>("job") { Description = "Failover job id" };
        var report = new Command("report", "A test failover's drill report: point and RPO achieved, RTO per machine, checksums on two paths, the guest's own check, what each guest's own packets reached (peers, and the outside address that must stay out of reach), each step") { job };
        report.SetAction((parse, ct) => Run(api, parse, async client =>
        {
            var r = await client.GetAsync($"api/failovers/{Uri.EscapeDataString(parse.GetValue(job)!)}/report", ct);
            if (parse.GetValue(json)) { Console.WriteLine(r.ToJsonString()); return 0; }
            ShowReport(r);
            return r["passed"]!.GetValue<bool>() ? 0 : 1;
        }));
        cmd.Add(report);
        return cmd;
    }

    static Command StepCommand(Option<string> api, Option<bool> json, string verb, string description, bool comment)
    {
        var job = new Argument<string>("job") { Description = "Failover job id" };
        var step = new Argument<int>("step") { Description = "Step index" };
        var text = new Option<string>("--comment") { Description = "Why (kept with the job)", Required = comment };
        var cmd = new Command(verb, description) { job, step };
        if (comment) cmd.Add(text);
        cmd.SetAction((parse, ct) => Run(api, parse, async client =>
        {
            var r = await client.PostAsync($"api/failovers/{Uri.EscapeDataString(parse.GetValue(job)!)}/steps/{parse.GetValue(step)}/{verb}", new { comment = comment ? parse.GetValue(text) : null }, ct);
            if (parse.GetValue(json)) Console.WriteLine(r.ToJsonString());
            else AnsiConsole.MarkupLine($"step {parse.GetValue(step)}: {verb} accepted; follow the job with srctl failover watch {Markup.Escape(parse.GetValue(job)!)}");
            return 0;
        }));
        return cmd;
    }

    /// <summary>Polls the job and draws one progress bar per step until <paramref name="until"/> (by default: completed, a failed step, waiting for an operator, cleaned up).</summary>
    internal static async Task<JsonNode> WatchAsync(ApiClient client, string jobId, bool quiet, CancellationToken ct, Func<string, bool>? until = null)
    {
        until ??= s => s is "Completed" or "StepFailed" or "WaitingForOperator" or "CleanedUp" or "Committed";
        var path = $"api/failovers/{Uri.EscapeDataString(jobId)}";
        var view = await client.GetAsync(path, ct);
        if (quiet)
        {
            while (!until(view["status"]!.ToString())) { await Task.Delay(500, ct); view = await client.GetAsync(path, ct); }
            return view;
        }
        await AnsiConsole.Progress().AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
            .StartAsync(async progress =>
            {
                var bars = new Dictionary<int, ProgressTask>();
                while (true)
                {
                    foreach (var s in view["steps"]!.AsArray())
                    {
                        var index = s!["plan"]!["index"]!.GetValue<int>();
                        var state = s["state"]!.ToString();
                        if (state == "Pending" && !bars.ContainsKey(index)) continue;
                        if (!bars.TryGetValue(index, out var bar))
                            bars[index] = bar = progress.AddTask(Markup.Escape($"{index} {s["plan"]!["name"]}"), maxValue: 1);
                        bar.Description = Markup.Escape($"{index} {s["plan"]!["name"]}") + state switch
                        {
                            "Failed" => " [red]failed[/]",
                            "Skipped" => " [yellow]skipped[/]",
                            "Running" when s["plan"]!["kind"]!.ToString() == "Manual" => " [yellow]waiting for an operator[/]",
                            _ => "",
                        };
                        if (state is "Succeeded" or "Failed" or "Skipped") { bar.Value = 1; bar.StopTask(); }
                    }
                    if (until(view["status"]!.ToString())) return;
                    await Task.Delay(500, ct);
                    view = await client.GetAsync(path, ct);
                }
            });
        return view;
    }

    internal static void ShowJob(JsonNode v)
    {
        AnsiConsole.MarkupLine($"[bold]{Esc(v["jobId"])}[/]: {Esc(v["kind"])} failover of plan {Esc(v["planId"])} to {Esc(v["point"]?["kind"])} — {Status(v["status"]!.ToString())}");
        if (v["autoRollbackAtUnixMs"]?.GetValue<long>() is { } rollbackAt)
            AnsiConsole.MarkupLine($"[yellow]rolled back by itself at {DateTimeOffset.FromUnixTimeMilliseconds(rollbackAt):yyyy-MM-dd HH:mm:ss}Z unless committed[/] (commit policy of {Esc(v["autoRollbackSeconds"])} s)");
        var steps = new Table().AddColumns("#", "step", "state", "time", "output / error");
        foreach (var s in v["steps"]!.AsArray())
        {
            long? started = s!["startedUnixMs"]?.GetValue<long>(), ended = s["endedUnixMs"]?.GetValue<long>();
            steps.AddRow(Esc(s["plan"]!["index"]), Esc(s["plan"]!["name"]), Status(s["state"]!.ToString()),
                started is { } a && ended is { } b ? $"{(b - a) / 1000.0:0.0} s" : "", Esc(s["error"] ?? s["output"]));
        }
        AnsiConsole.Write(steps);
        if (v["machines"]!.AsArray().Count > 0)
        {
            var machines = new Table().AddColumns("machine", "name", "accel", "pid", "booted", "guest check", "disks");
            foreach (var m in v["machines"]!.AsArray())
            {
                var boot = v["boots"]!.AsArray().FirstOrDefault(b => b!["machineId"]!.ToString() == m!["machineId"]!.ToString());
                machines.AddRow(Esc(m!["machineId"]), Esc(m["name"]), Esc(m["accelerator"]), Esc(m["pid"]),
                    boot is null ? "-" : boot["booted"]!.GetValue<bool>() ? $"[green]{boot["seconds"]!.GetValue<double>():0.0} s[/]" : $"[red]no[/] {Esc(boot["failure"])}",
                    Esc(boot?["guestCheck"]), string.Join(", ", m["disks"]!.AsArray().Select(d => $"{d!["diskId"]}@{d["sequence"]}")));
            }
            AnsiConsole.Write(machines);
        }
        if (v["reverse"] is { } reverse && reverse.GetValueKind() == System.Text.Json.JsonValueKind.Object)
        {
            AnsiConsole.MarkupLine($"protected back to {Esc(reverse["processServer"])} ({Esc(reverse["api"])})");
            var sync = new Table().AddColumns("machine", "agent pid", "nbd", "disk", "size", "moved", "blocks sent", "blocks equal", "time");
            foreach (var m in v["reverseMachines"]!.AsArray())
                foreach (var d in m!["disks"]!.AsArray())
                    sync.AddRow(Esc(m["machineId"]), Esc(m["agentPid"]), Esc(m["nbd"]), Esc(d!["diskId"]), Bytes(d["sizeBytes"]!.GetValue<long>()),
                        $"{Bytes(d["bytesSent"]!.GetValue<long>())} ({100.0 * d["bytesSent"]!.GetValue<long>() / Math.Max(1, d["sizeBytes"]!.GetValue<long>()):0.0} %)",
                        Esc(d["blocksSent"]), Esc(d["blocksEqual"]), $"{d["seconds"]!.GetValue<double>():0.0} s");
            AnsiConsole.Write(sync);
        }
        if (v["failbackDisks"] is JsonArray back && back.Count > 0)
        {
            var table = new Table().AddColumns("disk", "original site holds", "sha256");
            foreach (var d in back) table.AddRow(Esc(d!["diskId"]), $"#{d["sequence"]}", Esc(d["sha256"]));
            AnsiConsole.Write(table);
        }
        if (v["returned"] is JsonArray returned && returned.Count > 0)
        {
            var table = new Table().AddColumns("machine", "runs at", "pid", "booted", "guest check", "agent pid", "disk", "moved back");
            foreach (var m in returned)
                foreach (var d in m!["disks"]!.AsArray())
                    table.AddRow(Esc(m["machineId"]), Esc(m["site"]), Esc(m["machinePid"]),
                        m["booted"]!.GetValue<bool>() ? $"[green]{m["bootSeconds"]!.GetValue<double>():0.0} s[/]" : $"[red]no[/] {Esc(m["failure"])}",
                        Esc(m["guestCheck"]), Esc(m["agentPid"]), Esc(d!["diskId"]),
                        $"{Bytes(d["bytesSent"]!.GetValue<long>())} of {Bytes(d["sizeBytes"]!.GetValue<long>())}");
            AnsiConsole.Write(table);
        }
        var history = v["history"]!.AsArray();
        if (v["status"]!.ToString() is "Reprotecting" or "Reprotected" or "FailingBack" or "FailedBack" or "Returning" or "Returned" or "Committed" && history.Count > 0)
            AnsiConsole.MarkupLine($"last: {Esc(history[^1])}");
        if (v["report"] is { } report) ShowReport(report);
    }

    static void ShowReport(JsonNode r)
    {
        var passed = r["passed"]!.GetValue<bool>();
        AnsiConsole.MarkupLine($"drill report of [bold]{Esc(r["jobId"])}[/] (plan {Esc(r["planId"])}, point {Esc(r["point"])}): {(passed ? "[green]passed[/]" : $"[red]failed[/]: {Esc(r["failure"])}")}" +
            (r["planRtoMs"] is { } rto ? $"; plan RTO {rto.GetValue<long>() / 1000.0:0.0} s" : ""));
        var table = new Table().AddColumns("machine", "point", "RPO", "RTO", "accel", "guest check", "disk", "booted sha256", "replay sha256", "");
        foreach (var m in r["machines"]!.AsArray())
        {
            var disks = m!["disks"]!.AsArray();
            var first = true;
            foreach (var d in disks.DefaultIfEmpty(null))
            {
                table.AddRow(first ? Esc(m["machineId"]) : "", first ? Esc(m["pointName"]) : "", first ? $"{m["rpoMs"]!.GetValue<long>() / 1000.0:0.0} s" : "",
                    first && m["rtoMs"] is { } t ? $"{t.GetValue<long>() / 1000.0:0.0} s" : "", first ? Esc(m["accelerator"]) : "", first ? Esc(m["guestCheck"]) : "",
                    Esc(d?["diskId"]), Esc(d?["bootedSha256"]?.ToString()[..16]), Esc(d?["replaySha256"]?.ToString()[..16]),
                    d is null ? "" : d["agree"]!.GetValue<bool>() ? "[green]agree[/]" : "[red]DIFFER[/]");
                first = false;
            }
        }
        AnsiConsole.Write(table);
        ShowIsolation(r);
    }

    /// <summary>What each drill guest's own packets reached: one row per probe, or why the machine was not probed.</summary>
    static void ShowIsolation(JsonNode r)
    {
        var machines = r["machines"]!.AsArray().Where(m => m!["isolation"] is not null).ToList();
        if (machines.Count == 0) return;
        var table = new Table().AddColumns("machine", "isolation", "probe", "role", "ping", "tcp hello", "heard by peer", "note");
        string Yes(JsonNode? v, bool good) => v is null ? "-" : v.GetValue<bool>() == good ? $"[green]{(v.GetValue<bool>() ? "yes" : "no")}[/]" : $"[red]{(v.GetValue<bool>() ? "YES" : "NO")}[/]";
        foreach (var m in machines)
        {
            var isolation = m!["isolation"]!;
            var verdict = isolation["failure"] is { } f ? $"[red]failed[/]: {Esc(f)}"
                : isolation["probed"]!.GetValue<bool>() ? "[green]proved[/]" : $"not probed: {Esc(isolation["notProbed"])}";
            var probes = isolation["probes"]!.AsArray();
            if (probes.Count == 0) table.AddRow(Esc(m["machineId"]), verdict, "", "", "", "", "", "");
            var first = true;
            foreach (var p in probes)
            {
                var outside = p!["role"]!.ToString() == "Outside";
                var role = outside ? "outside" : $"peer {p["peerMachineId"]}";
                table.AddRow(first ? Esc(m["machineId"]) : "", first ? verdict : "", Esc(p["address"]), Esc(role),
                    Yes(p["pingAnswered"], !outside), Yes(p["tcpSent"], !outside), outside ? "" : Yes(p["heardByPeer"], true), Esc(p["note"]));
                first = false;
            }
        }
        AnsiConsole.Write(table);
    }

    static string Status(string s) => s switch
    {
        "Completed" or "Succeeded" or "CleanedUp" => $"[green]{s}[/]",
        "StepFailed" or "Failed" => $"[red]{s}[/]",
        "WaitingForOperator" or "Skipped" or "CleaningUp" or "Reprotecting" or "FailingBack" => $"[yellow]{s}[/]",
        "Reprotected" or "FailedBack" or "Committed" => $"[green]{s}[/]",
        _ => s,
    };

    static string Bytes(long n) => n >= 1 << 30 ? $"{n / (double)(1 << 30):0.00} GiB" : n >= 1 << 20 ? $"{n / (double)(1 << 20):0.0} MiB" : $"{n} B";

    static string Esc(object? o) => Markup.Escape(o?.ToString() ?? "");

    internal static async Task<int> Run(Option<string> api, ParseResult parse, Func<ApiClient, Task<int>> body)
    {
        using var client = new ApiClient(parse.GetValue(api)!);
        try { return await body(client); }
        catch (ApiException e) { Console.Error.WriteLine($"srctl: {e.Message}"); return 1; }
    }
}
