using SiteRecovery.Fuzz;
using SiteRecovery.TestSupport;

namespace SiteRecovery.Integration.Tests.Fuzz;

/// <summary>
/// Every committed fuzz input, fed to its target without the fuzzer: the seeds in fuzz/corpus/&lt;target&gt;/ (valid inputs,
/// so they must parse) and the inputs that once crashed, in fuzz/crashes/&lt;target&gt;/ (they must now end in a named error).
/// Keeps the corpus exercised by the normal suite, and every crash the fuzzer found a regression test.
/// </summary>
public sealed class CorpusTests
{
    public static TheoryData<string, string> Seeds() => Inputs("corpus");
    public static TheoryData<string, string> Crashes() => Inputs("crashes");

    private static TheoryData<string, string> Inputs(string folder)
    {
        var data = new TheoryData<string, string>();
        var root = Path.Combine(RepoRoot.Path, "fuzz", folder);
        foreach (var target in FuzzTargets.All.Keys)
        {
            var dir = Path.Combine(root, target);
            if (!Directory.Exists(dir)) continue;
            foreach (var file in Directory.GetFiles(dir).Order(StringComparer.Ordinal)) data.Add(target, Path.GetFileName(file));
        }
        return data;
    }

    [Fact]
    public void EveryTargetHasSeeds()
    {
        foreach (var target in FuzzTargets.All.Keys)
        {
            var dir = Path.Combine(RepoRoot.Path, "fuzz", "corpus", target);
            Assert.True(Directory.Exists(dir) && Directory.GetFiles(dir).Length > 0, $"no seeds in fuzz/corpus/{target}");
        }
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void SeedParses(string target, string file)
    {
        var outcome = FuzzTargets.All[target](File.ReadAllBytes(Path.Combine(RepoRoot.Path, "fuzz", "corpus", target, file)));
        // Seeds are valid inputs: none may end in a parse error.
        Assert.DoesNotContain("Exception", outcome);
        Assert.DoesNotContain("malformed", outcome);
        if (target == "delta") Assert.StartsWith("intact", outcome);
        if (target == "frame") Assert.EndsWith("clean end", outcome);
    }

    [Fact]
    public void AnEmptyInputReachesTheParser()
    {
        // SharpFuzz's first run can read an empty input (afl-fuzz has not written the case yet); a target that answers
        // it without parsing leaves no coverage, and afl-fuzz aborts. The frame target once did.
        Assert.Equal("0 frames, clean end", FuzzTargets.All["frame"]([]));
        Assert.StartsWith("DeltaFormatException", FuzzTargets.All["delta"]([]));
        Assert.StartsWith("malformed", FuzzTargets.All["regkey"]([]));
    }

    [Theory]
    [MemberData(nameof(Crashes))]
    public void CrashInputNowEndsInANamedError(string target, string file)
    {
        // A finding (or any exception the parser does not promise) fails here with its type and message.
        var outcome = FuzzTargets.All[target](File.ReadAllBytes(Path.Combine(RepoRoot.Path, "fuzz", "crashes", target, file)));
        Assert.False(string.IsNullOrEmpty(outcome));
    }
}
