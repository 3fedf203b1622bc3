using SiteRecovery.Fuzz;

// fuzz/run.sh runs this under afl-fuzz as `SiteRecovery.Fuzz <target>`: SharpFuzz's fork server feeds it inputs, and
// any exception escaping the target is reported to afl-fuzz as a crash.
// `SiteRecovery.Fuzz <target> --replay <file or folder>...` runs the target once per file without the fuzzer and prints
// each outcome (exit 1 if any input throws): for checking a crash, or a corpus, by hand.
// `SiteRecovery.Fuzz seeds <folder>` writes the seed corpus (fuzz/corpus was made with it).
if (args is ["seeds", var folder])
{
    Seeds.Write(folder);
    return 0;
}

if (args.Length == 0 || !FuzzTargets.All.TryGetValue(args[0], out var target))
{
    Console.Error.WriteLine($"usage: SiteRecovery.Fuzz <{string.Join('|', FuzzTargets.All.Keys)}> [--replay <file or folder>...]");
    return 2;
}

if (args.Length > 1 && args[1] == "--replay")
{
    var failed = 0;
    var files = new List<string>();
    foreach (var path in args.Skip(2)) files.AddRange(Directory.Exists(path) ? Directory.GetFiles(path).Order() : [path]);
    foreach (var file in files)
    {
        try
        {
            Console.WriteLine($"{file}: {target(File.ReadAllBytes(file))}");
        }
        catch (Exception e)
        {
            failed++;
            Console.WriteLine($"{file}: CRASH {e.GetType().FullName}: {e.Message}");
            Console.WriteLine(e.StackTrace);
        }
    }
    return failed == 0 ? 0 : 1;
}

SharpFuzz.Fuzzer.Run(stream =>
{
    using var copy = new MemoryStream();
    stream.CopyTo(copy);
    target(copy.ToArray());
});
return 0;
