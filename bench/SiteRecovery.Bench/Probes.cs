using System.Globalization;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Bench;

/// <summary>Reads what the bench observes from the outside: /proc, directory sizes, the filesystem.</summary>
public static class Probes
{
    static readonly Lazy<int> ClockTicks = new(() =>
    {
        try { return int.Parse(Tools.Run("getconf", ["CLK_TCK"], TimeSpan.FromSeconds(10)).Trim(), CultureInfo.InvariantCulture); }
        catch (BenchException) { return 100; }
    });

    public static int TicksPerSecond => ClockTicks.Value;

    /// <summary>A field of /proc/meminfo in bytes (MemTotal, MemAvailable, ...).</summary>
    public static long MemInfo(string field)
    {
        foreach (var line in File.ReadLines("/proc/meminfo"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        throw new BenchException("machine facts", $"/proc/meminfo has no {field}");
    }

    /// <summary>A kB field of /proc/PID/status (VmHWM, VmRSS) in bytes.</summary>
    public static long ProcStatus(int pid, string field)
    {
        string[] lines;
        try { lines = File.ReadAllLines($"/proc/{pid}/status"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new BenchException("peak memory", $"cannot read /proc/{pid}/status: {e.Message}"); }
        foreach (var line in lines)
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', '\t', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        throw new BenchException("peak memory", $"/proc/{pid}/status has no {field}");
    }

    public static string CpuModel()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            return line is null ? "unknown cpu" : line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { return "unknown cpu"; }
    }

    /// <summary>Filesystem type, device and mount point of the filesystem holding <paramref name="dir"/>.</summary>
    public static (string Type, string Device, string Mount) FileSystemOf(string dir)
    {
        var text = Tools.Run("df", ["-T", "-P", dir], TimeSpan.FromSeconds(10));
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (lines.Length < 2) throw new BenchException("machine facts", $"df -T {dir} printed: {text}");
        var f = lines[^1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return (f[1], f[0], f[^1]);
    }

    /// <summary>
    /// Bytes the block device <paramref name="device"/> (as df names it, e.g. /dev/vda) has written since boot, from
    /// /proc/diskstats; null when the device is not listed there (a network or virtual filesystem).
    /// </summary>
    public static long? DeviceBytesWritten(string device)
    {
        var name = Path.GetFileName(device);
        try
        {
            foreach (var line in File.ReadLines("/proc/diskstats"))
            {
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                // major minor name reads merged sectors ms writes merged sectors-written ...
                if (f.Length > 9 && f[2] == name) return long.Parse(f[9], System.Globalization.CultureInfo.InvariantCulture) * 512;
            }
        }
        catch (IOException) { }
        return null;
    }

    /// <summary>Apparent size of every file below <paramref name="path"/> (0 when it does not exist).</summary>
    public static long DirectoryBytes(string path)
    {
        if (File.Exists(path)) return SafeLength(new FileInfo(path));
        if (!Directory.Exists(path)) return 0;
        long total = 0;
        try
        {
            foreach (var f in new DirectoryInfo(path).EnumerateFiles("*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true }))
                total += SafeLength(f);
        }
        catch (DirectoryNotFoundException) { }
        return total;
    }

    static long SafeLength(FileInfo f)
    {
        try { return f.Length; }
        catch (FileNotFoundException) { return 0; }
    }

    /// <summary>user+system CPU ticks of a process (and each apart) and of each of its threads, grouped by thread name.</summary>
    public sealed record CpuSample(DateTime At, long ProcessTicks, long UserTicks, long SystemTicks, Dictionary<string, long> ThreadTicksByName);

    public static CpuSample? SampleCpu(int pid)
    {
        var at = DateTime.UtcNow;
        var own = ReadStatTicks($"/proc/{pid}/stat");
        if (own is null) return null;
        var byName = new Dictionary<string, long>();
        try
        {
            foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                var t = ReadStatTicks(Path.Combine(task, "stat"));
                if (t is null) continue;
                byName[t.Value.Comm] = byName.GetValueOrDefault(t.Value.Comm) + t.Value.User + t.Value.System;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return new CpuSample(at, own.Value.User + own.Value.System, own.Value.User, own.Value.System, byName);
    }

    static (string Comm, long User, long System)? ReadStatTicks(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        // pid (comm) state ppid ... ; comm may hold spaces and parentheses, so split after the last ')'.
        var open = text.IndexOf('(');
        var close = text.LastIndexOf(')');
        if (open < 0 || close < open) return null;
        var comm = text[(open + 1)..close];
        var rest = text[(close + 2)..].Split(' ');
        // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
        var utime = long.Parse(rest[11], CultureInfo.InvariantCulture);
        var stime = long.Parse(rest[12], CultureInfo.InvariantCulture);
        return (comm, utime, stime);
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    static extern int posix_fadvise(int fd, long offset, long length, int advice);

    /// <summary>
    /// Drops the clean cached pages of the file <paramref name="dir"/> or every file below it (posix_fadvise DONTNEED; call after a
    /// sync), so the next run finds free pages instead of reclaiming these: only this bench's files, not the machine's
    /// whole cache. Returns the bytes of the files advised.
    /// </summary>
    public static long EvictFromPageCache(string dir)
    {
        const int DontNeed = 4;
        long bytes = 0;
        IEnumerable<FileInfo> files = File.Exists(dir) ? [new FileInfo(dir)]
            : Directory.Exists(dir) ? new DirectoryInfo(dir).EnumerateFiles("*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true }) : [];
        foreach (var f in files)
        {
            try
            {
                using var handle = File.OpenHandle(f.FullName, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                if (posix_fadvise((int)handle.DangerousGetHandle(), 0, 0, DontNeed) == 0) bytes += f.Length;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        return bytes;
    }

    /// <summary>Whole-machine CPU counters from /proc/stat: (busy, iowait, total) ticks.</summary>
    public static (long Busy, long IoWait, long Total) SystemCpu()
    {
        var line = File.ReadLines("/proc/stat").First();
        var v = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8).Select(s => long.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        // user nice system idle iowait irq softirq steal
        var total = v.Sum();
        return (total - v[3] - v[4], v[4], total);
    }
}

/// <summary>CPU use of the site's processes and of the machine over one measured interval.</summary>
public sealed class CpuWindow
{
    readonly (string Name, int Pid)[] _processes;
    readonly Dictionary<string, Probes.CpuSample?> _start = [];
    readonly (long Busy, long IoWait, long Total) _systemStart;

    public CpuWindow(params (string Name, int Pid)[] processes)
    {
        _processes = processes;
        foreach (var (name, pid) in processes) _start[name] = Probes.SampleCpu(pid);
        _systemStart = Probes.SystemCpu();
    }

    /// <summary>Percent of one core per process (and its busiest thread groups), and machine busy / iowait percent of all cores.</summary>
    public CpuUsage Stop()
    {
        var sys = Probes.SystemCpu();
        var total = Math.Max(1, sys.Total - _systemStart.Total);
        var procs = new List<ProcessCpu>();
        foreach (var (name, pid) in _processes)
        {
            var a = _start[name];
            var b = Probes.SampleCpu(pid);
            if (a is null || b is null) continue;
            var seconds = Math.Max(1e-3, (b.At - a.At).TotalSeconds);
            double Pct(long ticks) => 100.0 * ticks / Probes.TicksPerSecond / seconds;
            var threads = b.ThreadTicksByName
                .Select(kv => (Name: kv.Key, Ticks: kv.Value - a.ThreadTicksByName.GetValueOrDefault(kv.Key)))
                .Where(t => t.Ticks > 0).OrderByDescending(t => t.Ticks).Take(6)
                .Select(t => new ThreadCpu(t.Name, Math.Round(Pct(t.Ticks), 1))).ToList();
            procs.Add(new ProcessCpu(name, Math.Round(Pct(b.ProcessTicks - a.ProcessTicks), 1), threads,
                (b.UserTicks - a.UserTicks) / (double)Probes.TicksPerSecond, (b.SystemTicks - a.SystemTicks) / (double)Probes.TicksPerSecond));
        }
        return new CpuUsage(procs,
            Math.Round(100.0 * (sys.Busy - _systemStart.Busy) / total, 1),
            Math.Round(100.0 * (sys.IoWait - _systemStart.IoWait) / total, 1),
            (sys.Busy - _systemStart.Busy) / (double)Probes.TicksPerSecond);
    }
}

public sealed record ThreadCpu(string Name, double PercentOfCore);
public sealed record ProcessCpu(string Process, double PercentOfCore, List<ThreadCpu> BusiestThreads, double UserSeconds, double SystemSeconds);
public sealed record CpuUsage(List<ProcessCpu> Processes, double MachineBusyPercent, double MachineIoWaitPercent, double MachineBusySeconds)
{
    public ProcessCpu Of(string process) => Processes.FirstOrDefault(p => p.Process == process) ?? throw new BenchException("cpu", $"no CPU sample of {process} (did it exit?)");

    public override string ToString() =>
        string.Join(", ", Processes.Select(p => $"{p.Process} {p.PercentOfCore:0}%")) + $" of a core; machine {MachineBusyPercent:0}% busy, {MachineIoWaitPercent:0}% iowait";
}

/// <summary>Samples directory sizes in the background and keeps the peak of each.</summary>
public sealed class SizeSampler : IAsyncDisposable
{
    readonly Dictionary<string, string> _paths;
    readonly Dictionary<string, long> _peak = [];
    readonly CancellationTokenSource _stop = new();
    readonly Task _loop;

    public SizeSampler(Dictionary<string, string> paths, TimeSpan every)
    {
        _paths = paths;
        Sample();
        _loop = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                try { await Task.Delay(every, _stop.Token); } catch (OperationCanceledException) { break; }
                Sample();
            }
        });
    }

    void Sample()
    {
        foreach (var (name, path) in _paths)
        {
            var size = Probes.DirectoryBytes(path);
            lock (_peak) _peak[name] = Math.Max(size, _peak.GetValueOrDefault(name));
        }
    }

    public long Peak(string name) { lock (_peak) return _peak.GetValueOrDefault(name); }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        Sample();
        _stop.Dispose();
    }
}

/// <summary>Samples RssAnon and RssFile of the site's processes and keeps the peaks (VmHWM does not split them).</summary>
public sealed class MemorySampler : IAsyncDisposable
{
    readonly Dictionary<string, (long Anon, long File)> _peak = [];
    readonly CancellationTokenSource _stop = new();
    readonly Task _loop;

    public MemorySampler(IReadOnlyList<ChildProcess> children, TimeSpan every)
    {
        _loop = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                foreach (var c in children)
                {
                    if (c.HasExited) continue;
                    try
                    {
                        var anon = Probes.ProcStatus(c.Pid, "RssAnon");
                        var file = Probes.ProcStatus(c.Pid, "RssFile");
                        lock (_peak)
                        {
                            var p = _peak.GetValueOrDefault(c.Name);
                            _peak[c.Name] = (Math.Max(p.Anon, anon), Math.Max(p.File, file));
                        }
                    }
                    catch (BenchException) { }
                }
                try { await Task.Delay(every, _stop.Token); } catch (OperationCanceledException) { break; }
            }
        });
    }

    public (long Anon, long File) Peak(string name) { lock (_peak) return _peak.GetValueOrDefault(name); }

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested) return;
        await _stop.CancelAsync();
        await _loop;
    }
}
