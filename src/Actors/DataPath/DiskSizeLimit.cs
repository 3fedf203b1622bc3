using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// The sizes a process server or a master target takes a disk offer at, checked for every disk of a hello before any of
/// them is opened: a disk's size decides what is allocated for it (the master target's base image keeps a hash per MiB
/// of it), so a hello that names an absurd size must be refused while nothing exists for it yet.
/// </summary>
public static class DiskSizeLimit
{
    /// <summary>The configuration key the limit is set by, named in every refusal.</summary>
    public const string Key = "max-disk-size";

    /// <summary>The largest disk unless configured otherwise: larger than any disk a hypervisor or cloud offers today.</summary>
    public const long DefaultMax = 64L << 40;

    /// <summary>
    /// The largest value the limit may be set to: the base image numbers its 1 MiB blocks with an int
    /// (<see cref="SiteRecovery.Journal.Retention.BaseImage"/>), so no disk past this can be kept.
    /// </summary>
    public const long Ceiling = 1L << 50;

    /// <summary>Why <paramref name="offer"/> cannot be taken by <paramref name="role"/> (its size not positive or over <paramref name="max"/>), or null.</summary>
    public static string? Problem(DiskOffer offer, long max, string role) => offer.SizeBytes switch
    {
        <= 0 => $"disk {offer.DiskId}: size {offer.SizeBytes} is not positive",
        var size when size > max => $"disk {offer.DiskId}: size {size} bytes is over this {role}'s {Key} of {max} bytes",
        _ => null,
    };

    /// <summary>The first problem among the disks of <paramref name="hello"/>, or null when every one may be opened.</summary>
    public static string? Problem(Hello hello, long max, string role) =>
        hello.Disks.Select(offer => Problem(offer, max, role)).FirstOrDefault(problem => problem is not null);
}
