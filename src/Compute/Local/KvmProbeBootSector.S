# The boot sector the accelerator probe boots under KVM (AcceleratorProbe.BootSector holds its 512 bytes).
# A KVM that runs SeaBIOS is not yet one that boots a guest: a paravirtual /dev/kvm (kvm_pvm) emulates code that runs
# without paging and fails on instructions a bootloader uses (seen: "KVM internal error. Suberror: 1", emulation failure
# on an iret in 32-bit protected mode, after SeaBIOS had finished). So the probe does what a bootloader does: real mode,
# a GDT, protected mode without paging, an IDT, a software interrupt and its iret, then prints its marker on SeaBIOS's
# debug console (I/O port 0x402). Build (Compute.Tests checks the bytes match when binutils are installed):
#   as --32 -o probe.o KvmProbeBootSector.S && ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o probe.bin probe.o
    .code16
    .globl _start
_start:
    cli
    xorw %ax, %ax
    movw %ax, %ds
    movw %ax, %ss
    movw $0x7c00, %sp
    lgdt gdt_desc
    movl %cr0, %eax
    orl $1, %eax
    movl %eax, %cr0
    ljmp $0x08, $protected
    .code32
protected:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movl $0x7000, %esp
    lidt idt_desc
    int $3
    movl $message, %esi
    movw $0x402, %dx
print:
    lodsb
    testb %al, %al
    jz done
    outb %al, %dx
    jmp print
done:
    cli
    hlt
    jmp done
handler:
    iret
    .p2align 3
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff
    .quad 0x00cf92000000ffff
gdt_desc:
    .word gdt_desc - gdt - 1
    .long gdt
idt:
    .quad 0, 0, 0
    .word handler, 0x08, 0x8e00, 0
idt_desc:
    .word idt_desc - idt - 1
    .long idt
message:
    .asciz "SR-KVM-PROBE-OK\n"
    .org 510
    .word 0xaa55
