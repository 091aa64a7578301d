# ferry's QEMU guest: a Multiboot (v1) kernel that does nothing but dirty memory, so that a
# precopy migration of it really has pages to resend.
#
# QEMU's -kernel loads it at 1 MiB in flat 32-bit protected mode, interrupts off, paging off
# (the Multiboot machine state), so there is nothing to set up: no GDT, no IDT, no devices.
#
# Each pass walks the working set [WS_BASE, WS_BASE + ws MiB) one 4 KiB page at a time. At each
# page it first checks the dword it wrote there on the previous pass, then writes this pass's
# value:  pattern(pass, page) = (pass * GOLDEN) ^ page_address.  A page that does not hold what
# the guest wrote is counted in `errors`: after a migration, a non-zero count means memory did
# not arrive intact, seen from inside the guest. The pass and page counters prove that it runs.
#
# Parameters come from the Multiboot command line (-append): ws=MiB (default 8, clamped to the
# RAM QEMU reports) and delay=N (busy-wait iterations after each page write, default 0, to slow
# the dirty rate down), flush=0|1 (default 1, see below). Everything the host reads is in the
# status block at STATUS (0x101000), laid out as in layout.ts.
#
# Why invlpg after every write (flush=1): under TCG, QEMU 7.2 tracks a guest write as dirty only
# when it goes through the slow path of its software TLB. After a migration bitmap sync it does
# not send a page's still-cached TLB entry back to the slow path, so a page the guest keeps
# writing (the status block) is written untracked until the entry happens to be evicted, and the
# destination gets a stale copy (measured: the source RAM at postmigrate and the destination RAM
# differed in exactly the status counter, every run, with downtime-limit 50 ms). Dropping the
# entry after each write makes the next write take the slow path; flush=0 reproduces the loss.

        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0x00000003          # page-align modules, give us the memory info
        .set MB_BOOT_MAGIC, 0x2BADB002      # what a Multiboot loader leaves in eax
        .set WS_BASE, 0x200000              # above the image and QEMU's Multiboot info
        .set DEFAULT_WS_MIB, 8
        .set MAX_WS_MIB, 3072               # keeps ws * 1 MiB within 32 bits
        .set GOLDEN, 0x9E3779B1             # odd, so each pass's pattern differs from the last
        .set COM1, 0x3F8

        .section .multiboot, "a"
        .balign 4
        .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

        .section .text
        .code32
        .globl _start
_start:
        cli
        mov $stack_top, %esp
        mov %eax, boot_magic
        mov %ebx, %edx                      # Multiboot info, kept in edx until parsed

        # RAM top: 1 MiB + mem_upper KiB, when the loader says (flags bit 0).
        movl $0, mem_upper_kib
        testl $1, (%edx)
        jz 1f
        mov 8(%edx), %eax
        mov %eax, mem_upper_kib
1:
        movl $DEFAULT_WS_MIB, ws_mib
        movl $0, delay
        movl $1, flush
        testl $4, (%edx)                    # flags bit 2: a command line is there
        jz params_done
        mov 16(%edx), %esi
        mov $key_ws, %edi
        call find_param
        jc 2f
        mov %eax, ws_mib
2:
        mov $key_delay, %edi
        call find_param
        jc 8f
        mov %eax, delay
8:
        mov $key_flush, %edi
        call find_param
        jc params_done
        mov %eax, flush
params_done:
        # ws_bytes = min(ws MiB, MAX_WS_MIB) << 20, then cut to what lies below the RAM top.
        mov ws_mib, %eax
        cmp $MAX_WS_MIB, %eax
        jbe 3f
        mov $MAX_WS_MIB, %eax
3:
        shl $20, %eax
        mov mem_upper_kib, %ecx
        test %ecx, %ecx
        jz 4f                               # no memory info: trust ws
        shl $10, %ecx
        add $0x100000, %ecx                 # ecx = RAM top
        sub $WS_BASE, %ecx
        jbe 5f                              # RAM ends below WS_BASE: nothing to dirty
        cmp %ecx, %eax
        jbe 4f
        mov %ecx, %eax
        jmp 4f
5:
        xor %eax, %eax
4:
        and $0xFFFFF000, %eax
        movl $WS_BASE, ws_base
        mov %eax, ws_bytes

        mov $banner, %esi
        call serial_puts

main_loop:
        mov passes, %eax
        imul $GOLDEN, %eax, %ebx            # ebx = this pass's key
        mov %ebx, %ebp
        sub $GOLDEN, %ebp                   # ebp = last pass's key
        mov ws_base, %esi
        mov %esi, %edi
        add ws_bytes, %edi                  # edi = end of the working set
page_loop:
        cmp %edi, %esi
        jae pass_done
        cmpl $0, passes                     # pass 0 finds whatever RAM held: nothing to check
        je write_page
        mov (%esi), %eax
        xor %esi, %eax
        cmp %ebp, %eax
        je write_page
        incl errors
        mov %esi, last_error_address
write_page:
        mov %esi, %eax
        xor %ebx, %eax
        mov %eax, (%esi)
        addl $1, pages_written
        adcl $0, pages_written + 4
        cmpl $0, flush
        je 9f
        invlpg (%esi)                       # the page just written, and
        invlpg status                       # the status block: see the top of this file
9:
        mov delay, %ecx
        jecxz 7f
6:
        pause
        loop 6b
7:
        add $4096, %esi
        jmp page_loop
pass_done:
        incl passes
        jmp main_loop

# find_param: the number after `key` (e.g. "ws=") in the command line, where key starts the line
# or follows a space.  In: esi = command line, edi = key (both NUL-terminated).
# Out: CF clear and eax = value, or CF set when absent or without digits. Clobbers ecx, edx.
find_param:
        push %esi
        push %ebx
        mov %esi, %ebx
.Lscan:
        cmpb $0, (%esi)
        je .Lmissing
        cmp %ebx, %esi
        je .Lcompare
        cmpb $' ', -1(%esi)
        jne .Lnext
.Lcompare:
        xor %ecx, %ecx
.Lkey:
        movb (%edi,%ecx), %dl
        test %dl, %dl
        jz .Lnumber
        cmpb %dl, (%esi,%ecx)
        jne .Lnext
        inc %ecx
        jmp .Lkey
.Lnumber:
        add %ecx, %esi
        xor %eax, %eax
        xor %ecx, %ecx
.Ldigit:
        movzbl (%esi), %edx
        sub $'0', %edx
        cmp $9, %edx
        ja .Lend                            # unsigned: anything but '0'..'9' ends the number
        imul $10, %eax, %eax
        add %edx, %eax
        inc %esi
        inc %ecx
        jmp .Ldigit
.Lend:
        test %ecx, %ecx
        jz .Lmissing
        pop %ebx
        pop %esi
        clc
        ret
.Lnext:
        inc %esi
        jmp .Lscan
.Lmissing:
        pop %ebx
        pop %esi
        stc
        ret

# serial_puts: writes the NUL-terminated string at esi to COM1 (dropped if there is no port).
serial_puts:
        push %eax
        push %edx
        mov $COM1, %dx
.Lputc:
        lodsb
        test %al, %al
        jz .Lputs_done
        outb %al, %dx
        jmp .Lputc
.Lputs_done:
        pop %edx
        pop %eax
        ret

# The status block: fixed address, fixed layout (layout.ts). Little-endian.
        .section .status, "aw"
        .globl status
status:
        .ascii "FERRYGST"                   # +0  magic
        .long 1                             # +8  layout version
boot_magic:             .long 0             # +12 eax at entry: 0x2BADB002 under Multiboot
passes:                 .long 0             # +16 completed passes over the working set
pages_written:          .long 0, 0          # +20 pages written since boot (u64)
errors:                 .long 0             # +28 pages that did not hold the last pass's value
last_error_address:     .long 0             # +32 the last such page
ws_base:                .long 0             # +36 working set start (physical)
ws_bytes:               .long 0             # +40 working set length
delay:                  .long 0             # +44 busy-wait iterations per page
mem_upper_kib:          .long 0             # +48 RAM above 1 MiB, from Multiboot
ws_mib:                 .long 0             # +52 ws= as asked (before clamping)
flush:                  .long 0             # +56 flush= (invlpg after each write)

        .section .data
key_ws:         .asciz "ws="
key_delay:      .asciz "delay="
key_flush:      .asciz "flush="
banner:         .asciz "ferry guest: dirtying memory\n"
        .balign 16
stack:          .fill 4096, 1, 0
stack_top:
