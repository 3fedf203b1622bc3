using SiteRecovery.Contracts.Storage;

namespace SiteRecovery.Journal.Segments;

/// <summary>
/// The writer's side of the log: append, group commit (flush) and rotation to the next file. Apart from reads and trims
/// because only the one writer thread runs it (see the class remarks), while those run on any thread, concurrently
/// with it.
/// </summary>
public sealed partial class SegmentLog
{
    /// <summary>
    /// Appends one record as <paramref name="sequence"/>, which must be exactly <see cref="LastSequence"/> + 1
    /// (else <see cref="AppendSequenceGapException"/>). Durable only after <see cref="Flush"/>: a small record waits in
    /// the write buffer, a large one (<see cref="SegmentLogOptions.WriteThroughBytes"/>) is handed to the OS at once,
    /// which readers still do not see before the flush.
    /// Returns where the record is, as <see cref="ReadLocated"/> would report it.
    /// </summary>
    public RecordLocation Append(ReadOnlySpan<byte> record, long sequence)
    {
        ThrowIfUnusable();
        var expected = _lastSequence + 1;
        if (sequence != expected) throw new AppendSequenceGapException(expected, sequence);
        if (record.Length == 0) throw new ArgumentException("a record cannot be empty", nameof(record));
        if (record.Length > _options.MaxRecordBytes)
            throw new ArgumentException($"record of {record.Length} bytes exceeds the {_options.MaxRecordBytes}-byte maximum", nameof(record));

        var frame = SegmentFrame.HeaderSize + record.Length;
        try
        {
            if (frame >= _options.WriteThroughBytes)
            {
                // A large record goes from the caller's buffer to the file in one gathered write, after what is buffered:
                // copying it into the buffer first would cost a pass over every byte for a saving of one syscall.
                WriteBuffer();
                Span<byte> header = stackalloc byte[SegmentFrame.HeaderSize];
                SegmentFrame.WriteHeader(header, record, _activeSeed);
                _options.FileIo.Write(_active!, header, record, _activeOnDisk);
                Volatile.Write(ref _activeOnDisk, _activeOnDisk + frame);
            }
            else
            {
                if (frame > _options.WriteBufferBytes - _buffered) WriteBuffer();
                var buffer = _writeBuffer ??= System.Buffers.ArrayPool<byte>.Shared.Rent(_options.WriteBufferBytes);
                SegmentFrame.WriteHeader(buffer.AsSpan(_buffered), record, _activeSeed);
                record.CopyTo(buffer.AsSpan(_buffered + SegmentFrame.HeaderSize));
                _buffered += frame;
            }
        }
        catch
        {
            // After a failed write the file's tail is unknown; only a reopen (recovery) can tell what survived.
            _faulted = true;
            throw;
        }

        if (_activeCount > 0 && _activeCount % IndexEvery == 0)
            lock (_gate) _files[^1].Index.Add((sequence, _activeBytes));
        var location = new RecordLocation(sequence - _activeCount, _activeBytes);
        _activeCount++;
        _activeBytes += frame;
        Volatile.Write(ref _lastSequence, sequence);
        if (_activeBytes >= _options.SegmentBytes) Rotate();
        return location;
    }

    /// <summary>
    /// Writes buffered records and fsyncs the active file once (group commit). When it returns, everything up to
    /// <see cref="LastSequence"/> is durable and visible to readers.
    /// </summary>
    public void Flush()
    {
        ThrowIfUnusable();
        if (_durableSequence == _lastSequence && _buffered == 0) return;
        try
        {
            WriteBuffer();
            ReleaseWriteBuffer();
        }
        catch
        {
            _faulted = true;
            throw;
        }
        try
        {
            _options.FileIo.FlushToDisk(_active!);
        }
        catch
        {
            // A failed fsync may have dropped dirty pages; retrying could falsely report success.
            _faulted = true;
            FaultedInFsync = true;
            throw;
        }
        lock (_gate)
        {
            var active = _files[^1];
            active.DurableCount = _activeCount;
            active.DurableLength = _activeBytes;
            _durableSequence = _lastSequence;
        }
    }

    private void Rotate()
    {
        Flush();
        var active = _files[^1];
        var last = active.First + _activeCount - 1;
        var sealedPath = Path.Combine(_directory, SegmentFileName.Sealed(active.First, last, active.Salted));
        var nextFirst = last + 1;
        var salted = _options.RecycleSegments > 0;
        var nextPath = Path.Combine(_directory, SegmentFileName.Open(nextFirst, salted));
        try
        {
            // A sealed file must end at its last record: recovery reads sealed files to their end.
            CutReusedTail();
            _active!.Dispose();
            _active = null;
            // Rename and index update together, under the gate readers open files under: a reader opens one name or the other.
            lock (_gate)
            {
                File.Move(active.Path, sealedPath);
                active.Path = sealedPath;
                active.Sealed = true;
            }
            // The rename must be durable before the next .open exists, so recovery never sees two overlapping files.
            DirectorySync.Flush(_directory);
            string? reuse;
            lock (_trimGate) _free.TryDequeue(out reuse);
            if (reuse is not null)
            {
                // Its old frames stay in it until overwritten; the new seed makes them fail their hash.
                File.Move(reuse, nextPath);
                _active = File.OpenHandle(nextPath, FileMode.Open, FileAccess.Write, FileShare.Read | FileShare.Delete);
                _activeReused = RandomAccess.GetLength(_active) > 0;
            }
            else
            {
                PrivateFiles.CreateNew(nextPath);
                _active = File.OpenHandle(nextPath, FileMode.Open, FileAccess.Write, FileShare.Read | FileShare.Delete);
                _activeReused = false;
            }
            DirectorySync.Flush(_directory);
        }
        catch
        {
            _faulted = true;
            throw;
        }
        _activeCount = _activeBytes = 0;
        Volatile.Write(ref _activeOnDisk, 0);
        _activeSeed = salted ? nextFirst : 0;
        lock (_gate) _files.Add(new SegmentFile(nextFirst, nextPath, salted) { WrittenFrom = 0 });
    }

    private void WriteBuffer()
    {
        if (_buffered == 0) return;
        WriteToActive(_writeBuffer.AsSpan(0, _buffered));
        _buffered = 0;
    }

    /// <summary>Gives the write buffer back to the pool; only once what it held is written (or the log is closing).</summary>
    private void ReleaseWriteBuffer()
    {
        if (_writeBuffer is not { } buffer) return;
        _writeBuffer = null;
        _buffered = 0;
        System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
    }

    private void WriteToActive(ReadOnlySpan<byte> bytes)
    {
        _options.FileIo.Write(_active!, bytes, _activeOnDisk);
        Volatile.Write(ref _activeOnDisk, _activeOnDisk + bytes.Length);
    }
}
