namespace SiteRecovery.Chaos.Tests.Support;

/// <summary>Argument lists for the tools the tests drive the agent with; <see cref="Contracts.Processes.ExternalTool"/> runs them.</summary>
public static class Tools
{
    /// <summary>fio's nbd engine: random 64 KiB writes, verified with crc32c after the write phase.</summary>
    public static string[] FioRandWrite(string uri, string name, int sizeMb, int ioMb, string? rate = null)
    {
        var args = new List<string>
        {
            $"--name={name}", "--ioengine=nbd", $"--uri={uri}", "--rw=randwrite", "--bs=64k", "--iodepth=8",
            $"--size={sizeMb}M", $"--io_size={ioMb}M", "--verify=crc32c", "--do_verify=1", "--randrepeat=0",
            "--output-format=terse",
        };
        if (rate is not null) args.Add($"--rate={rate}");
        return args.ToArray();
    }
}
