"""Short phrases that depend on a page's numbers, for the sentences around them in the page's markdown.

A verdict computed from numbers belongs in a small tested function that returns a few words; the sentence it
completes stays in the page's prose (and in a translation of it). Every phrase comes in both of the book's languages
from one call (`bilingual.say`: English here, Korean from `catalogue_ko`), so the English and Korean editions share
their code cells.
"""

from __future__ import annotations

from alexnet_book.bilingual import Phrase, counted, listed, say, term
from alexnet_book.profiles import PAPER_BATCH_SIZE, PAPER_LEARNING_RATE


def crossover_phrase(batch: float | None) -> Phrase:
    """`distribution.crossover_batch`'s answer in words: "about 98 images", or "no batch size" where the lines do
    not cross."""
    return say("no batch size") if batch is None else say("about {batch:,.0f} images", batch=batch)


def more_or_less(a: float, b: float) -> Phrase:
    """How a compares with b, for "a sends ... b": "more than", "less than" or "as much as"."""
    return say("more than") if a > b else say("less than") if a < b else say("as much as")


def describe_devices(devices) -> Phrase:
    """What the mesh's devices are ("cpu:0", "gpu:1", as Keras names them): "two virtual CPU devices that share
    one CPU's cores", "two GPUs", "two TPUs"."""
    kinds = {name.split(":")[0] for name in devices}
    count = {1: "one", 2: "two", 4: "four", 8: "eight"}.get(len(devices), str(len(devices)))
    if kinds == {"cpu"}:
        return say("{count} virtual CPU devices that share one CPU's cores", count=count, number=len(devices))
    return say("{count} {kinds}s", count=count, number=len(devices), kinds="/".join(sorted(kinds)).upper())


def timing_caveat(devices) -> Phrase:
    """What a step time measured on `devices` can say: on CPU devices, which share one processor, it compares the
    programs' overheads (copies, work done twice), not what separate accelerators would gain."""
    if all(name.startswith("cpu") for name in devices):
        return say("the times compare the programs' overheads on one processor, not what two GPUs would gain")
    return say("the times include the transfers between them")


def race_verdict(relu_epochs: int | None, tanh_epochs: int | None) -> Phrase:
    """Chapter 4's race in words, from the epochs each activation took to the finishing line (None: never)."""
    if relu_epochs and tanh_epochs:
        if relu_epochs == tanh_epochs:
            return say("both got there in the same epoch")
        return say("ReLU got there first") if relu_epochs < tanh_epochs else say("tanh got there first")
    if relu_epochs or tanh_epochs:
        return say("only ReLU got there") if relu_epochs else say("only tanh got there")
    return say("neither got there")


def epochs_ratio(slower: int | None, faster: int | None) -> Phrase:
    """A ratio of epochs for a sentence ("2.0"), or why there is none ("not measurable in this run")."""
    return say("{ratio:.1f}", ratio=slower / faster) if slower and faster else say("not measurable in this run")


def reached(epochs_to_target: int | None, epochs: int) -> Phrase:
    """Whether a run reached its target: "reached it in 3 epochs", "had not reached it after 8 epochs"."""
    if epochs_to_target:
        return say("reached it in {epochs}", epochs=counted(epochs_to_target, "epoch"))
    return say("had not reached it after {epochs}", epochs=counted(epochs, "epoch"))


def times_divided(count: int) -> Phrase:
    """How often a learning rate was divided: "never divided", "divided once", "divided twice", "divided 3 times"."""
    words = {0: "never divided", 1: "divided once", 2: "divided twice"}
    return say(words[count]) if count in words else say("divided {count} times", count=count)


def recipe_phrase(recipe, batch_size: int, augment: bool) -> Phrase:
    """How a training run relates to the paper's recipe: "with the paper's recipe" where its rate, batch and
    augmentation are the paper's, else what it keeps and what it changes."""
    if recipe.learning_rate == PAPER_LEARNING_RATE and batch_size == PAPER_BATCH_SIZE and augment:
        return say("with the paper's recipe")
    if not augment:
        return say(
            "with the paper's optimizer, weight decay and schedule, but a smaller starting rate and batch and no "
            "augmentation (the short profiles' changes, below)"
        )
    return say("with the paper's optimizer, weight decay, schedule and augmentation, but another rate or batch")


def smoothing_verdict(trained: float, fresh: float) -> Phrase:
    """What the neighbour correlation of trained conv1 kernels against freshly initialised ones says."""
    gain = trained - fresh
    if gain > 0.3:
        return say("training has replaced the initial noise with smooth patterns")
    if gain > 0.05:
        return say("training has begun to smooth the initial noise")
    return say("training has hardly changed the initial noise")


def neighbour_verdict(fc7_agreement: float, pixel_agreement: float) -> Phrase:
    """How fc7's nearest neighbours compare with the pixels' at sharing a query's class."""
    gain = fc7_agreement - pixel_agreement
    if gain > 0.15:
        return say("fc7 groups images by class much better than their pixels do")
    if gain > 0.05:
        return say("fc7 groups images by class better than their pixels do")
    if gain > -0.05:
        return say(
            "fc7 groups images by class about as well as their pixels do; this model has learnt little beyond them"
        )
    return say("the pixels group images by class better than fc7 does; this model has not learnt a useful fc7 yet")


def precision_verdict(policy: str, float32_rate: float, bfloat16_rate: float, within: float = 0.05) -> Phrase:
    """Which precision trained faster and by how much (a ratio within `within` of 1 names no winner), and
    whether precision_policy() picks it."""
    ratio = bfloat16_rate / float32_rate
    if abs(ratio - 1) <= within:
        return say(
            "mixed_bfloat16 and float32 trained about as fast (mixed_bfloat16 at {ratio:.2f} times float32's best "
            "rate); alexnet_book.hardware.precision_policy() picks {policy} here",
            ratio=ratio,
            policy=policy,
        )
    faster = "mixed_bfloat16" if ratio > 1 else "float32"
    if faster == policy:
        return say(
            "{faster} trained faster (bfloat16 at {ratio:.2f} times float32's best rate), and it is what "
            "alexnet_book.hardware.precision_policy() picks here",
            faster=faster,
            ratio=ratio,
        )
    return say(
        "{faster} trained faster (bfloat16 at {ratio:.2f} times float32's best rate), but {policy} is what "
        "alexnet_book.hardware.precision_policy() picks here",
        faster=faster,
        ratio=ratio,
        policy=policy,
    )


def recorded_rate_phrase(rate: float | None, yardstick: float) -> Phrase:
    """A recorded training rate and its share of the yardstick, or "none yet" where the record has none."""
    if rate is None:
        return say("none yet")
    return say("{rate:,.0f} images per second, {share:.0%} of the yardstick", rate=rate, share=rate / yardstick)


def pipeline_phrase(pipes: dict | None, backend: str, gpu_rate: float) -> Phrase:
    """Chapter 9's sentence start on the input pipelines: what they delivered here against what a GPU trains on
    (pipeline.compare_pipelines's figures), or, off TensorFlow, that they were not timed."""
    if pipes is None:
        return say(
            "This page ran on the {backend} backend, so the tf.data pipelines were not timed (chapter 5 and this "
            "chapter time them on TensorFlow), but the conclusion does not depend on it:",
            backend=backend,
        )
    return say(
        "On this machine the post's pipeline delivered {post:,.0f} images per second ({megabytes:,.0f} MB/s to copy "
        "to a device), and uint8 batches {uint8:,.0f}. Fed by the post's pipeline on a host like this one, the GPU "
        "above would get {share:.0%} of the images it can train on;",
        post=pipes["post_images_per_second"],
        megabytes=pipes["post_megabytes_per_second"],
        uint8=pipes["uint8_images_per_second"],
        share=pipes["post_images_per_second"] / gpu_rate,
    )


def training_gap(gap: float) -> Phrase:
    """Training minus validation accuracy in words, whatever its sign: "training accuracy 3.2 points higher"."""
    points = gap * 100
    if abs(points) < 0.05:
        return say("training accuracy the same")
    if points > 0:
        return say("training accuracy {points:.1f} points higher", points=points)
    return say("training accuracy {points:.1f} points lower", points=-points)


def difference_verdict(first: str, second: str, first_accuracy: float, second_accuracy: float, noise: float) -> Phrase:
    """Two runs' accuracies compared against the noise that chance alone puts on such an accuracy."""
    points, noise_points = (first_accuracy - second_accuracy) * 100, noise * 100
    if abs(points) <= noise_points:
        return say(
            "they differ by {points:.1f} points, within the {noise:.1f} points that chance alone moves an accuracy on "
            "these images: no winner",
            points=abs(points),
            noise=noise_points,
        )
    return say(
        "they differ by {points:.1f} points in favour of {winner}, more than the {noise:.1f} points that chance "
        "alone moves an accuracy on these images",
        points=abs(points),
        winner=term(first if points > 0 else second),
        noise=noise_points,
    )


def pipeline_comparison(rates: dict | None, backend: str) -> Phrase:
    """Chapter 5's sentences on its two timed pipelines (pipeline.compare_pipelines's figures), or, off
    TensorFlow, that they were not timed."""
    if rates is None:
        return say(
            "This page ran on the {backend} backend, so the two tf.data pipelines were not timed (run it on "
            "TensorFlow to see their rates). On a CPU-only machine they would not limit training anyway, because the "
            "network itself is far slower.",
            backend=backend,
        )
    return say(
        "Over {images:,} training images, the post's pipeline delivered {post:,.0f} images per second on this "
        "machine, and uint8 batches {uint8:,.0f}: about {speedup:,.0f} times as many. On a CPU-only machine neither "
        "number limits training, because the network itself is far slower.",
        images=rates["images"],
        post=rates["post_images_per_second"],
        uint8=rates["uint8_images_per_second"],
        speedup=rates["speedup"],
    )


def pipeline_push(rates: dict | None) -> Phrase:
    """What the post's pipeline has to push to a GPU, with this machine's rate where it was timed."""
    if rates is None:
        return say("the images on the host")
    return say(
        "images (here {post:,.0f} a second, {megabytes:,.0f} MB a second to push across to the GPU)",
        post=rates["post_images_per_second"],
        megabytes=rates["post_megabytes_per_second"],
    )


def cell_time(reused: bool, seconds: float) -> Phrase:
    """How long chapter 6's training cell took, or that it found the run finished and trained nothing."""
    if reused:
        return say("this time the cell found the run finished in its folder and trained nothing")
    return say("the whole cell took {seconds:,.0f} seconds", seconds=seconds)


def tensorflow_op_check(backend: str) -> Phrase:
    """Chapter 3's aside on its LRN check: on the TensorFlow backend the page compared the book's layer with
    TensorFlow's own op; on any other backend that op is missing and the comparison was skipped."""
    if backend == "tensorflow":
        return say(
            "TensorFlow's own op, run on this page, gives the same values, with its defaults and with the paper's "
            "constants"
        )
    return say(
        "this page ran on the {backend} backend, so the comparison with TensorFlow's own op was skipped",
        backend=backend,
    )


def roughly_as_much(a: float, b: float, within: float = 0.01) -> Phrase:
    """How a compares with b when a difference of up to `within` of b is no difference worth a word: "as much as"
    (equal), "about as much as", "more than" or "less than" (chapter 10 compares two programs' bytes this way)."""
    if a == b:
        return say("as much as")
    if abs(a - b) <= within * abs(b):
        return say("about as much as")
    return say("more than") if a > b else say("less than")


def leader_phrase(accuracies: dict, noise: float) -> Phrase:
    """Which of several runs scored highest (accuracies: name -> accuracy) and its lead over each other run, every
    lead judged against `noise`, e.g. "no normalization scored highest, 3.0 points above BatchNormalization (within
    the 4.5 points of noise) and 5.2 points above LRN (beyond them)"."""
    if len(accuracies) < 2:
        raise ValueError(f"a leader needs at least two runs to compare, got {len(accuracies)}.")
    ranked = sorted(accuracies.items(), key=lambda item: item[1], reverse=True)
    leader, top = ranked[0]
    leads = [(name, (top - accuracy) * 100) for name, accuracy in ranked[1:]]
    noise_points = noise * 100
    if all(lead <= noise_points for _, lead in leads):
        return say(
            "{leader} scored highest, but at most {lead:.1f} points above the others, within the {noise:.1f} points "
            "of noise: no winner",
            leader=term(leader),
            lead=leads[-1][1],
            noise=noise_points,
        )
    templates = {  # (the first lead, which names the noise; beyond it) -> the lead in words
        (True, True): "{lead:.1f} points above {name} (beyond the {noise:.1f} points of noise)",
        (True, False): "{lead:.1f} points above {name} (within the {noise:.1f} points of noise)",
        (False, True): "{lead:.1f} points above {name} (beyond them)",
        (False, False): "{lead:.1f} points above {name} (within them)",
    }
    judged = [
        say(templates[number == 0, lead > noise_points], lead=lead, name=term(name), noise=noise_points)
        for number, (name, lead) in enumerate(leads)
    ]
    return say("{leader} scored highest, {leads}", leader=term(leader), leads=listed(judged))


def dropout_verdict(off_accuracy: float, on_accuracy: float, off_gap: float, noise: float) -> Phrase:
    """What a short run says about dropout, from the validation accuracies without and with it, the gap between
    training and validation accuracy of the run without it, and the noise on such numbers."""
    memorizing = off_gap > noise
    if on_accuracy - off_accuracy > noise:
        return say("dropout already pays off in a run this short")
    if off_accuracy - on_accuracy > noise:
        if memorizing:
            return say(
                "the network without dropout had begun to memorize its training images, yet in a run this short "
                "dropout cost more by slowing learning than it saved by holding memorization back"
            )
        return say("the network without dropout had not begun to memorize yet, so dropout only slowed its learning")
    if memorizing:
        return say(
            "the network without dropout had begun to memorize its training images, but dropout's effect on the "
            "validation accuracy is within the noise of a run this short"
        )
    return say("dropout's effect is within the noise of a run this short")


def lrn_passes(precision: str) -> Phrase:
    """The passes the book's LRN layer makes over its input, forward and backward, under a dtype policy (it
    computes in float32 whatever the policy, so a mixed policy adds a conversion each way)."""
    if "mixed" in precision:
        return say(
            "a square, the band-matrix product, a power and a product, and a conversion to float32 and back, since "
            "it computes in float32 under {precision}",
            precision=precision,
        )
    return say("a square, the band-matrix product, a power and a product")


def class_count_range(counts) -> Phrase:
    """The number of images per class in words: "5,000" where every class has as many, else "between 435 and 489"."""
    low, high = int(min(counts)), int(max(counts))
    return say("{low:,}", low=low) if low == high else say("between {low:,} and {high:,}", low=low, high=high)


def class_share_range(counts) -> Phrase:
    """Each class's share of the images: "10.0%" where they are equal, else "9.3% to 10.5%"."""
    total = sum(counts)
    if total <= 0:
        raise ValueError("class counts must add up to at least one image.")
    low, high = min(counts) / total, max(counts) / total
    return say("{low:.1%}", low=low) if low == high else say("{low:.1%} to {high:.1%}", low=low, high=high)


def class_balance(counts) -> Phrase:
    """What the ten classes' sizes (CIFAR-10's counts) mean for accuracy as a summary: balanced, nearly balanced
    (the largest class at most 1.25 times the smallest) or not, with what always naming the largest class would
    score."""
    total = sum(counts)
    if total <= 0:
        raise ValueError("class counts must add up to at least one image.")
    low, high = min(counts), max(counts)
    largest = high / total
    if low == high:
        return say("the set is balanced, so accuracy is a fair summary and chance is one in ten")
    if high <= 1.25 * low:
        return say(
            "the set is nearly balanced (each class is between {smallest:.1%} and {largest:.1%} of it), so accuracy "
            "is a fair summary and chance is about one in ten: always naming the largest class would score "
            "{largest:.1%}",
            smallest=low / total,
            largest=largest,
        )
    return say(
        "the set is not balanced ({smallest:.1%} to {largest:.1%} per class), so accuracy flatters a network that "
        "favours the large classes: always naming the largest class already scores {largest:.1%}",
        smallest=low / total,
        largest=largest,
    )
