(module
  (import "env" "memory" (memory 1 65536))
  ;; dot(a, b, n): sum a[i] * b[i] over n float32 at byte addresses a and b.
  (func (export "dot") (param $a i32) (param $b i32) (param $n i32) (result f32)
    (local $i i32) (local $end i32) (local $acc0 v128) (local $acc1 v128) (local $s f32)
    (local.set $end (i32.shl (i32.and (local.get $n) (i32.const -8)) (i32.const 2)))
    (block $done8
      (loop $l8
        (br_if $done8 (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $acc0 (f32x4.add (local.get $acc0)
          (f32x4.mul (v128.load (i32.add (local.get $a) (local.get $i)))
                     (v128.load (i32.add (local.get $b) (local.get $i))))))
        (local.set $acc1 (f32x4.add (local.get $acc1)
          (f32x4.mul (v128.load offset=16 (i32.add (local.get $a) (local.get $i)))
                     (v128.load offset=16 (i32.add (local.get $b) (local.get $i))))))
        (local.set $i (i32.add (local.get $i) (i32.const 32)))
        (br $l8)))
    (local.set $acc0 (f32x4.add (local.get $acc0) (local.get $acc1)))
    (local.set $s (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $acc0)) (f32x4.extract_lane 1 (local.get $acc0)))
      (f32.add (f32x4.extract_lane 2 (local.get $acc0)) (f32x4.extract_lane 3 (local.get $acc0)))))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $s (f32.add (local.get $s)
          (f32.mul (f32.load (i32.add (local.get $a) (local.get $i)))
                   (f32.load (i32.add (local.get $b) (local.get $i))))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $l)))
    (local.get $s))
  ;; l2(a, b, n): sum (a[i] - b[i])^2.
  (func (export "l2") (param $a i32) (param $b i32) (param $n i32) (result f32)
    (local $i i32) (local $end i32) (local $acc0 v128) (local $d v128) (local $s f32) (local $x f32)
    (local.set $end (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $done4
      (loop $l4
        (br_if $done4 (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $d (f32x4.sub (v128.load (i32.add (local.get $a) (local.get $i)))
                                 (v128.load (i32.add (local.get $b) (local.get $i)))))
        (local.set $acc0 (f32x4.add (local.get $acc0) (f32x4.mul (local.get $d) (local.get $d))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $l4)))
    (local.set $s (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $acc0)) (f32x4.extract_lane 1 (local.get $acc0)))
      (f32.add (f32x4.extract_lane 2 (local.get $acc0)) (f32x4.extract_lane 3 (local.get $acc0)))))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $x (f32.sub (f32.load (i32.add (local.get $a) (local.get $i)))
                               (f32.load (i32.add (local.get $b) (local.get $i)))))
        (local.set $s (f32.add (local.get $s) (f32.mul (local.get $x) (local.get $x))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $l)))
    (local.get $s))
  ;; l1(a, b, n): sum |a[i] - b[i]|.
  (func (export "l1") (param $a i32) (param $b i32) (param $n i32) (result f32)
    (local $i i32) (local $end i32) (local $acc0 v128) (local $s f32)
    (local.set $end (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $done4
      (loop $l4
        (br_if $done4 (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $acc0 (f32x4.add (local.get $acc0)
          (f32x4.abs (f32x4.sub (v128.load (i32.add (local.get $a) (local.get $i)))
                                (v128.load (i32.add (local.get $b) (local.get $i)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $l4)))
    (local.set $s (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $acc0)) (f32x4.extract_lane 1 (local.get $acc0)))
      (f32.add (f32x4.extract_lane 2 (local.get $acc0)) (f32x4.extract_lane 3 (local.get $acc0)))))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $s (f32.add (local.get $s)
          (f32.abs (f32.sub (f32.load (i32.add (local.get $a) (local.get $i)))
                            (f32.load (i32.add (local.get $b) (local.get $i)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $l)))
    (local.get $s))
)
